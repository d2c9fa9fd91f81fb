from __future__ import annotations

from pathlib import Path

import pytest

from repoagent.config import load_settings, valid_keys
from repoagent.errors import ConfigError


def test_defaults_load() -> None:
    settings = load_settings(env={})
    assert settings.generation.temperatures == [0.0, 0.4, 0.8]
    assert settings.retrieval.top_k_symbols == 100 and settings.loop.reproduction_attempts == 2


def test_layers_apply_in_order(tmp_path: Path) -> None:
    user = tmp_path / "user.yaml"
    user.write_text("model:\n  name: from-file\n  api_base: http://localhost:11434\nloop:\n  max_retries: 5\n")
    env = {"REPOAGENT_MODEL__NAME": "from-env", "REPOAGENT_HOME": str(tmp_path / "home")}
    settings = load_settings(user, ["loop.max_retries=1"], env=env)
    assert settings.model.name == "from-env"
    assert settings.model.api_base == "http://localhost:11434"
    assert settings.loop.max_retries == 1


def test_home_and_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPOAGENT_HOME", str(tmp_path))
    assert load_settings(env={}).resolved_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("REPOAGENT_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load_settings(env={}).resolved_cache_dir() == tmp_path / "xdg" / "repoagent"


@pytest.mark.parametrize(
    ("overrides", "env", "message"),
    [
        (["model.nmae=x"], {}, "unknown setting 'model.nmae'.*valid keys: .*model.name"),
        ([], {"REPOAGENT_NOPE": "1"}, "unknown setting 'nope' \\(from environment variable REPOAGENT_NOPE\\)"),
        (["loop.max_retries=-1"], {}, "setting loop.max_retries"),
        (["sandbox.kind=vm"], {}, "setting sandbox.kind"),
        (["justakey"], {}, "is not key=value"),
    ],
)
def test_bad_settings_are_named(overrides: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, overrides, env=env)


def test_bad_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "none.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, env={})
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("modle:\n  name: x\n")
    with pytest.raises(ConfigError, match="unknown setting 'modle'"):
        load_settings(unknown, env={})


def test_every_default_is_written_once_in_the_yaml_file() -> None:
    """The settings model holds types and limits only; each dotted key has its value in default.yaml."""
    import yaml

    tree = yaml.safe_load((Path(__file__).parents[2] / "configs" / "default.yaml").read_text())
    for key in valid_keys():
        node = tree
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"{key} has no value in configs/default.yaml"
            node = node[part]
    from repoagent.config import Settings

    with pytest.raises(ValueError):
        Settings.model_validate({})  # no second set of defaults hides in the model


@pytest.mark.parametrize(
    "override",
    [
        "budget.max_cost=.nan",
        "budget.max_cost=.inf",
        "budget.max_cost=-1",
        "budget.max_tokens=0",
        "model.input_cost_per_token=-0.001",
        "sandbox.timeout=-1",
        "model.context_tokens=-100",
        "generation.temperatures=[]",
        "index.max_file_bytes=-1",
    ],
)
def test_settings_carry_their_limits(override: str) -> None:
    with pytest.raises(ConfigError, match=f"setting {override.split('=')[0]}"):
        load_settings(None, [override], env={})


def test_a_binary_config_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    binary = tmp_path / "config.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(ConfigError, match="config.yaml is not valid YAML"):
        load_settings(binary, env={})
