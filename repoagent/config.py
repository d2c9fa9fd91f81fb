"""Configuration: ``configs/default.yaml``, then a user file, then ``REPOAGENT_*``, then ``-o``.

Environment variables name a key with ``__`` between levels, e.g.
``REPOAGENT_MODEL__NAME=ollama/qwen2.5-coder``; ``REPOAGENT_HOME`` alone moves
the cache and state folders.  Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from repoagent.errors import ConfigError

DEFAULT_CONFIG = Path(str(resources.files("configs") / "default.yaml"))
ENV_PREFIX = "REPOAGENT_"
APP_ENV_PREFIX = "REPOAGENT_APP"  # the GitHub App's settings and key (repoagent.github_app.settings)
INDEX_CACHE_FILE = "index.sqlite3"
_RESERVED_ENV = {"REPOAGENT_HOME", "REPOAGENT_WEBHOOK_SECRET", "REPOAGENT_SANDBOX_OWNER"}


class _Section(BaseModel):
    """Types and constraints only: every default value is in ``configs/default.yaml``, in one place."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


Positive = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[int, Field(ge=0)]


def _megabytes(value: Any) -> Any:
    """A size as whole MB: a number (MB), or text with a unit: "2G", "2GB", "500M", "1.5g", "4096"."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", value.lower())
        if m is None:
            raise ValueError(f"{value!r} is not a size; write 2048, 500M or 2G")
        scale = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024 * 1024}[m[2]]
        return max(1, round(float(m[1]) * scale))
    return value


MegaBytes = Annotated[int, BeforeValidator(_megabytes), Field(ge=1)]


class ModelSettings(_Section):
    name: str | None
    """litellm model string; None means no model is configured."""
    api_base: str | None
    api_key: str | None
    """Usually left empty: litellm reads the provider's variable (OPENAI_API_KEY, ...)."""
    context_tokens: Positive | None
    max_output_tokens: Positive
    request_timeout: PositiveFloat
    retries: NonNegative
    backoff_seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    input_cost_per_token: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None
    output_cost_per_token: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None


class BudgetSettings(_Section):
    max_cost: PositiveFloat | None
    """USD; the run stops before a call that could spend past it."""
    max_tokens: Positive | None


class IndexSettings(_Section):
    max_file_bytes: Positive
    workers: NonNegative


class MapSettings(_Section):
    file_map_tokens: Positive
    schematic_map_tokens: Positive


class RetrievalSettings(_Section):
    embedding_model: str
    dense: bool
    dense_shortlist: NonNegative
    top_k_files: Positive
    top_k_symbols: Positive
    ranker: str
    """learned (the shipped models), rrf (reciprocal-rank fusion) or a folder of retrained models."""


class LocalizeSettings(_Section):
    candidate_files: Positive
    max_files: Positive
    max_symbols: Positive
    attempts: Positive
    locations_tokens: Positive


class GenerationSettings(_Section):
    temperatures: Annotated[list[Annotated[float, Field(ge=0, le=2)]], Field(min_length=1)]
    """The first one is also used for feedback rounds and the reproduction test."""
    samples_per_temperature: Positive


class LoopSettings(_Section):
    max_retries: NonNegative
    reproduction_attempts: NonNegative
    untested_when_broken: bool
    """When the test environment cannot be built or is broken: go on without tests instead of stopping."""


class GitHubSettings(_Section):
    api_url: str
    """GitHub Enterprise: https://HOST/api/v3.  The token comes from GITHUB_TOKEN."""


class SandboxSettings(_Section):
    kind: Literal["auto", "docker", "local", "none"]
    image: str
    timeout: PositiveFloat
    memory_mb: Positive
    cpus: PositiveFloat
    pids: Positive
    network: bool
    test_command: str | None
    """None: detected from the repository's files."""
    install: str | None
    """None: detected (pytest, and the project when it is installable)."""
    managed_python: bool
    """uv downloads the project's Python (needs internet) instead of a base image per Debian release."""
    pass_env: list[str]
    """Variables the local sandbox passes besides PATH, HOME and the locale."""
    disk_limit: MegaBytes
    """What the tests may write (worktree, temporary folder, output), in MB or with a unit ("2G", "500M");
    past it the run is stopped."""
    output_mb: Positive
    """What the tests may print, stdout and stderr together; past it the run is stopped."""
    tmp_mb: Positive
    """Docker: the size of the tmpfs at /tmp."""
    log_mb: Positive
    """Docker: max-size of the engine's json-file log of a test container."""
    user: str
    """Docker: who the tests run as (uid:gid), with every capability dropped."""
    require_isolation: bool
    """true: never fall back to the local sandbox (not isolated); the run stops instead."""


class InputSettings(_Section):
    max_issue_bytes: Positive
    """An issue (text, @FILE or from GitHub) longer than this is refused."""


class SwebenchSettings(_Section):
    mirrors_dir: Path | None
    """None: CACHE_DIR/swebench/mirrors."""
    remote_url: str
    """Where a repository's mirror is cloned from; {repo} is owner/name."""
    local_environments: bool
    """Without the official image, tests run in an environment built from the official spec."""
    specs: Path | None
    """None: swebench 4.1.0's install specs, downloaded from PyPI once."""


class Settings(_Section):
    cache_dir: Path | None
    state_dir: Path | None
    runs_dir: Path | None
    model: ModelSettings
    budget: BudgetSettings
    index: IndexSettings
    maps: MapSettings
    retrieval: RetrievalSettings
    localize: LocalizeSettings
    generation: GenerationSettings
    loop: LoopSettings
    inputs: InputSettings
    sandbox: SandboxSettings
    github: GitHubSettings
    swebench: SwebenchSettings

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or _home_dir("cache", "XDG_CACHE_HOME", ".cache")

    def resolved_state_dir(self) -> Path:
        return self.state_dir or _home_dir("state", "XDG_STATE_HOME", ".local/state")

    def index_cache_path(self) -> Path:
        """The one SQLite file that holds parses, term counts and embeddings."""
        return self.resolved_cache_dir() / INDEX_CACHE_FILE


def _home_dir(sub: str, xdg_var: str, fallback: str) -> Path:
    home = os.environ.get("REPOAGENT_HOME")
    if home:
        return Path(home).expanduser() / sub
    base = os.environ.get(xdg_var) or str(Path.home() / fallback)
    return Path(base).expanduser() / "repoagent"


@cache
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
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror})") from None
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
        if var.startswith(ENV_PREFIX) and var not in _RESERVED_ENV and not var.startswith(APP_ENV_PREFIX):
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
