"""Prompt templates: ``.txt`` files beside the code that uses them, filled with ``str.format``."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any


@cache
def _template(folder: Path, name: str) -> str:
    return (folder / f"{name}.txt").read_text(encoding="utf-8")


class Prompts:
    """The templates in one folder: ``Prompts(Path(__file__).parent / "prompts")("retry", error=...)``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, name: str, **values: Any) -> str:
        return _template(self.folder, name).format(**values)
