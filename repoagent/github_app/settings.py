"""The App's settings (``configs/github_app.yaml``) and its secrets, which come from files or the environment.

Layers: the defaults, ``--config FILE``, Probot's variables (``APP_ID``,
``PRIVATE_KEY_PATH``, ``GITHUB_API_URL``), ``REPOAGENT_APP__KEY`` variables, ``-o key=value``.
Secrets (the private key, the webhook secret) are read from ``private_key_file`` /
``REPOAGENT_APP_PRIVATE_KEY`` / ``PRIVATE_KEY`` (one line with ``\n`` escapes accepted) and
``webhook_secret_file`` / ``REPOAGENT_WEBHOOK_SECRET`` / ``WEBHOOK_SECRET``; they are held in
``Secrets``, whose ``repr`` shows none of them, and never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError, field_validator

from repoagent.errors import ConfigError

DEFAULTS = Path(str(resources.files("configs") / "github_app.yaml"))
ENV_PREFIX = "REPOAGENT_APP__"
# Probot's names, read as Probot reads them (between the config file and REPOAGENT_APP__ variables).
PROBOT_SETTINGS = {
    "APP_ID": "app_id",
    "PRIVATE_KEY_PATH": "private_key_file",
    "GITHUB_API_URL": "api_url",
    "WEBHOOK_PROXY_URL": "webhook_proxy_url",
}
TRUSTABLE = ("OWNER", "MEMBER")
CREATED_CONFIG = "app.yaml"  # what `repoagent app create` wrote in the state folder: the App's id and files


class AppSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: str | None
    private_key_file: Path | None
    webhook_secret_file: Path | None
    jobs_token_file: Path | None
    api_url: str
    api_timeout: float
    public_url: str | None
    webhook_proxy_url: str | None
    git_url: str
    label: str
    command: str
    allow_repos: list[str]
    trusted_associations: list[str]
    draft: bool
    branch_prefix: str
    state_dir: Path | None
    state_url: str | None
    queue: Literal["sqlite", "redis"]
    redis_url: str
    concurrency: PositiveInt
    max_attempts: PositiveInt
    max_body_bytes: PositiveInt
    model: str | None
    max_cost: float | None
    max_daily_cost: float | None
    sandbox: Literal["auto", "docker", "local", "none"]
    allow_unsandboxed: bool
    fix_config: Path | None
    fix_overrides: list[str]

    @field_validator("app_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        """App ids are numbers on GitHub's pages and in ``APP_ID=123456``: taken as their text."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("trusted_associations")
    @classmethod
    def _owners_and_members(cls, value: list[str]) -> list[str]:
        """Only OWNER and MEMBER: COLLABORATOR and CONTRIBUTOR include people who cannot write."""
        wrong = [v for v in value if v not in TRUSTABLE]
        if wrong:
            raise ValueError(
                f"{', '.join(wrong)} cannot be trusted by association (it includes users without write access); "
                f"use {' or '.join(TRUSTABLE)}: others are asked through the API"
            )
        return value

    def resolved_state_dir(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir).expanduser()
        home = os.environ.get("REPOAGENT_HOME")
        base = Path(home) / "state" if home else Path.home() / ".local" / "state" / "repoagent"
        return base / "github-app"


@dataclass(frozen=True)
class Secrets:
    private_key: str = field(repr=False)
    webhook_secret: bytes = field(repr=False)
    jobs_token: str = field(default="", repr=False)  # GET /jobs wants it as a bearer token; "": loopback only

    def values(self) -> list[str]:
        """Every secret's text, for redaction."""
        hook = self.webhook_secret.decode(errors="replace")
        return [v for v in (self.private_key, hook, self.jobs_token) if v]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    return data


def load_app_settings(
    config_file: Path | None = None, overrides: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> AppSettings:
    """The layers, lowest first: the defaults, ``app.yaml`` that ``repoagent app create`` wrote in the state
    folder, ``config_file``, Probot's variables, ``REPOAGENT_APP__KEY`` variables, ``overrides``."""
    env = os.environ if env is None else env
    settings = _layered(config_file, overrides, env, None)
    created = settings.resolved_state_dir() / CREATED_CONFIG
    return _layered(config_file, overrides, env, created) if created.is_file() else settings


def _layered(
    config_file: Path | None, overrides: Sequence[str], env: Mapping[str, str], created: Path | None
) -> AppSettings:
    tree = _read(DEFAULTS)
    known = set(tree)

    def put(key: str, value: Any, origin: str) -> None:
        if key not in known:
            raise ConfigError(f"unknown App setting {key!r} (from {origin}); valid keys: {', '.join(sorted(known))}")
        tree[key] = value

    for path in (created, config_file):
        if path is not None:
            for key, value in _read(path).items():
                put(key, value, str(path))
    for var, key in PROBOT_SETTINGS.items():
        if env.get(var):
            put(key, env[var].strip(), f"environment variable {var}")
    for var, raw in sorted(env.items()):
        if var.startswith(ENV_PREFIX):
            put(var[len(ENV_PREFIX) :].lower(), yaml.safe_load(raw) if raw else None, f"environment variable {var}")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not key=value")
        put(key.strip(), yaml.safe_load(raw) if raw else None, f"-o {item}")
    try:
        return AppSettings.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"App setting {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def load_secrets(settings: AppSettings, env: Mapping[str, str] | None = None) -> Secrets:
    """The private key and the webhook secret; a clear error naming where each is looked for."""
    env = os.environ if env is None else env
    inline_key = env.get("REPOAGENT_APP_PRIVATE_KEY") or env.get("PRIVATE_KEY")
    if inline_key and "-----BEGIN" in inline_key and "\n" not in inline_key:
        inline_key = inline_key.replace("\\n", "\n")  # one line with escaped newlines, as Probot accepts it
    key = _secret(settings.private_key_file, inline_key, "private_key_file", "REPOAGENT_APP_PRIVATE_KEY or PRIVATE_KEY")
    hook = _secret(
        settings.webhook_secret_file,
        env.get("REPOAGENT_WEBHOOK_SECRET") or env.get("WEBHOOK_SECRET"),
        "webhook_secret_file",
        "REPOAGENT_WEBHOOK_SECRET or WEBHOOK_SECRET",
    )
    if not settings.app_id:
        raise ConfigError("app_id is not set: set APP_ID or pass -o app_id=ID (the App's settings page shows it)")
    jobs = ""
    if settings.jobs_token_file is not None or env.get("REPOAGENT_APP_JOBS_TOKEN"):
        jobs = _secret(settings.jobs_token_file, env.get("REPOAGENT_APP_JOBS_TOKEN"), "jobs_token_file", "")
    return Secrets(private_key=key, webhook_secret=hook.strip().encode(), jobs_token=jobs.strip())


def _secret(path: Path | None, value: str | None, key: str, var: str) -> str:
    if path is not None:
        try:
            return Path(path).expanduser().read_text()
        except OSError as exc:
            raise ConfigError(f"{key} {path}: cannot be read ({exc.strerror})") from None
    if value:
        return value
    raise ConfigError(f"no {key.removesuffix('_file').replace('_', ' ')}: set {key} or {var}")
