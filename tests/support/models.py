"""Settings and models for tests, built from ``configs/default.yaml`` like the product's own."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from repoagent.config import ModelSettings, Settings, load_settings
from repoagent.events import Event, EventSink
from repoagent.models.budget import Budget
from repoagent.models.litellm_model import LiteLLMModel
from repoagent.pipeline.localize import LocalizerOptions
from repoagent.pipeline.loop import LoopOptions
from repoagent.pipeline.wiring import localizer_options, loop_options


def settings(*overrides: str) -> Settings:
    return load_settings(None, overrides)


def model_settings(name: str, **fields: Any) -> ModelSettings:
    return settings().model.model_copy(update={"name": name, **fields})


def model(name: str, events: EventSink | None = None, budget: Budget | None = None, **fields: Any) -> LiteLLMModel:
    return LiteLLMModel(model_settings(name, **fields), budget, events)


def localizer(**fields: Any) -> LocalizerOptions:
    return dataclasses.replace(localizer_options(settings()), **fields)


def loop(test_cmd: str, **fields: Any) -> LoopOptions:
    return dataclasses.replace(loop_options(settings(), test_cmd), **fields)


class Records(list):
    """An event sink that keeps what a trajectory keeps: each recorded event as its record (a dict), in order."""

    def emit(self, event: Event) -> None:
        if event.recorded:
            self.append(event.to_record())


def script_file(tmp_path: Path, answers: list[Any]) -> Path:
    """A new script file for ``answers`` (the scripted provider keeps a read position per file)."""
    path = tmp_path / f"script-{len(list(tmp_path.glob('script-*.json')))}.json"
    path.write_text(json.dumps(answers))
    return path


def scripted(tmp_path: Path, answers: list[Any], records: Records | None = None) -> LiteLLMModel:
    """A scripted model answering ``answers``; its calls go to ``records`` when given."""
    return model(f"scripted/{script_file(tmp_path, answers)}", records)
