"""Settings and models for tests, built from ``configs/default.yaml`` like the product's own."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from repoagent.config import GenerationSettings, LoopSettings, ModelSettings, Settings, load_settings
from repoagent.events import Event
from repoagent.models.budget import Budget
from repoagent.models.litellm_model import LiteLLMModel
from repoagent.pipeline.localize import LocalizerOptions
from repoagent.pipeline.test_loop import LoopOptions
from repoagent.pipeline.wiring import localizer_options
from repoagent.protocols import EventSink


def settings(*overrides: str) -> Settings:
    return load_settings(None, overrides)


def model_settings(name: str, **fields: Any) -> ModelSettings:
    return settings().model.model_copy(update={"name": name, **fields})


def model(name: str, events: EventSink | None = None, budget: Budget | None = None, **fields: Any) -> LiteLLMModel:
    return LiteLLMModel(model_settings(name, **fields), budget, events)


def localizer(**fields: Any) -> LocalizerOptions:
    """The default options; ``fields`` of the ``localize`` section (``max_files=2``) changed."""
    options = localizer_options(settings())
    return dataclasses.replace(options, localize=options.localize.model_copy(update=fields))


def loop(test_cmd: str, **fields: Any) -> LoopOptions:
    """The default options for ``test_cmd``; ``fields`` of the ``generation`` and ``loop`` sections, or
    ``timeout``, changed."""
    s = settings()
    generation = s.generation.model_copy(
        update={k: v for k, v in fields.items() if k in GenerationSettings.model_fields}
    )
    loop = s.loop.model_copy(update={k: v for k, v in fields.items() if k in LoopSettings.model_fields})
    unknown = set(fields) - set(GenerationSettings.model_fields) - set(LoopSettings.model_fields) - {"timeout"}
    assert not unknown, f"not a loop option: {unknown}"
    return LoopOptions(generation, loop, fields.get("timeout", s.sandbox.timeout), test_cmd)


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
