"""Configuration: ``configs/default.yaml``, then a user file, then ``REPOAGENT_*``, then ``-o``.

Environment variables name a key with ``__`` between levels, e.g.
``REPOAGENT_MODEL__NAME=ollama/qwen2.5-coder``; ``REPOAGENT_HOME`` alone moves
the cache and state folders.  Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from repoagent.errors import ConfigError

DEFAULT_CONFIG = Path(str(resources.files("configs") / "default.yaml"))
ENV_PREFIX = "REPOAGENT_"
_RESERVED_ENV = {"REPOAGENT_HOME"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSettings(_Section):
    name: str | None = None
    """litellm model string; None means no model is configured."""
    api_base: str | None = None
    api_key: str | None = None
    """Usually left empty: litellm reads the provider's variable (OPENAI_API_KEY, ...)."""
    context_tokens: int | None = None
    max_output_tokens: int = 4096
    request_timeout: float = 120
    retries: int = Field(3, ge=0)
    backoff_seconds: float = Field(1.0, ge=0)
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None


class IndexSettings(_Section):
    max_file_bytes: int = 1_000_000
    workers: int = 0


class MapSettings(_Section):
    file_map_tokens: int = 4000
    schematic_map_tokens: int = 2000


class RetrievalSettings(_Section):
    embedding_model: str = "bundled"
    dense: bool = True
    dense_shortlist: int = Field(100, ge=0)
    top_k_files: int = Field(20, ge=1)
    top_k_symbols: int = Field(50, ge=1)


class LocalizeSettings(_Section):
    candidate_files: int = Field(12, ge=1)
    max_files: int = Field(4, ge=1)
    max_symbols: int = Field(8, ge=1)
    attempts: int = Field(2, ge=1)
    locations_tokens: int = 6000


class GenerationSettings(_Section):
    temperatures: list[float] = [0.0, 0.4, 0.8]
    samples_per_temperature: int = Field(1, ge=1)


class LoopSettings(_Section):
    max_retries: int = Field(2, ge=0)


class GitHubSettings(_Section):
    api_url: str = "https://api.github.com"
    """GitHub Enterprise: https://HOST/api/v3.  The token comes from GITHUB_TOKEN."""


class SandboxSettings(_Section):
    kind: Literal["auto", "docker", "local", "none"] = "auto"
    image: str = "repoagent-base:bookworm"
    timeout: float = 900
    memory_mb: int = 4096
    cpus: float = 2.0
    pids: int = 512
    network: bool = False


class Settings(_Section):
    cache_dir: Path | None = None
    state_dir: Path | None = None
    runs_dir: Path | None = None
    model: ModelSettings = ModelSettings()
    index: IndexSettings = IndexSettings()
    maps: MapSettings = MapSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    localize: LocalizeSettings = LocalizeSettings()
    generation: GenerationSettings = GenerationSettings()
    loop: LoopSettings = LoopSettings()
    sandbox: SandboxSettings = SandboxSettings()
    github: GitHubSettings = GitHubSettings()

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or _home_dir("cache", "XDG_CACHE_HOME", ".cache")

    def resolved_state_dir(self) -> Path:
        return self.state_dir or _home_dir("state", "XDG_STATE_HOME", ".local/state")


def _home_dir(sub: str, xdg_var: str, fallback: str) -> Path:
    home = os.environ.get("REPOAGENT_HOME")
    if home:
        return Path(home).expanduser() / sub
    base = os.environ.get(xdg_var) or str(Path.home() / fallback)
    return Path(base).expanduser() / "repoagent"


def valid_keys(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(valid_keys(ann, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _set(tree: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    parts = dotted.split(".")
    if dotted not in valid_keys():
        raise ConfigError(f"unknown setting {dotted!r} (from {origin}); valid keys: {', '.join(valid_keys())}")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _merge(tree: dict[str, Any], extra: Mapping[str, Any], origin: str, prefix: str = "") -> None:
    for key, value in extra.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if not any(k.startswith(dotted + ".") for k in valid_keys()):
                raise ConfigError(f"unknown setting {dotted!r} (from {origin}); valid keys: {', '.join(valid_keys())}")
            _merge(tree, value, origin, dotted + ".")
        else:
            _set(tree, dotted, value, origin)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML file to --config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings, not {type(data).__name__}")
    return data


def load_settings(
    config_file: Path | None = None,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Layer the defaults, ``config_file``, the environment and ``key=value`` overrides."""
    env = os.environ if env is None else env
    tree: dict[str, Any] = {}
    _merge(tree, _read_yaml(DEFAULT_CONFIG), str(DEFAULT_CONFIG))
    if config_file is not None:
        _merge(tree, _read_yaml(Path(config_file)), str(config_file))
    for var, raw in sorted(env.items()):
        if var.startswith(ENV_PREFIX) and var not in _RESERVED_ENV:
            key = var[len(ENV_PREFIX) :].lower().replace("__", ".")
            _set(tree, key, yaml.safe_load(raw) if raw else None, f"environment variable {var}")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value; write for example -o model.name=ollama/llama3")
        _set(tree, key.strip(), yaml.safe_load(raw) if raw else None, f"-o {item}")
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {where}: {first['msg']} (got {first.get('input')!r})") from None
