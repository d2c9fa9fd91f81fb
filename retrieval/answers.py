"""Parse and validate the model's JSON answers; errors carry the words sent back to the model."""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, Field, ValidationError, field_validator

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


class AnswerError(ValueError):
    """The answer is unusable; the message says why, fit to show the model."""


class FileSelection(BaseModel):
    files: list[str] = Field(min_length=1)
    reason: str = ""

    @field_validator("files", mode="before")
    @classmethod
    def _clean(cls, value: object) -> object:
        if isinstance(value, list):
            return [v.strip().strip("`").lstrip("./") if isinstance(v, str) else v for v in value]
        return value


class SymbolPick(BaseModel):
    path: str
    name: str
    action: str = "edit"

    @field_validator("path", "name", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip().strip("`").strip("()") if isinstance(value, str) else value


class SymbolSelection(BaseModel):
    symbols: list[SymbolPick] = Field(min_length=1)
    new_definition_needed: bool = False
    reason: str = ""


def extract_json(text: str) -> dict:
    """The first JSON object in ``text``: bare, fenced, or surrounded by prose; repaired when slightly off.

    Strict JSON is tried first; then ``json-repair`` mends what models write
    (trailing commas, single quotes, comments, a missing bracket).
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for cand in candidates:
        start = cand.find("{")
        while start >= 0:
            try:
                obj, _ = json.JSONDecoder().raw_decode(cand[start:])
            except json.JSONDecodeError:
                start = cand.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                return obj
            start = cand.find("{", start + 1)
    import json_repair  # here: only an answer that is not plain JSON needs it (7 ms off a localize's start)

    for cand in candidates:
        start, end = cand.find("{"), cand.rfind("}")
        if start < 0:
            continue
        repaired = json_repair.loads(cand[start : end + 1] if end > start else cand[start:])
        if isinstance(repaired, dict) and repaired:
            return repaired
    raise AnswerError("no JSON object was found in your answer")


def parse_answer(text: str, schema: type[BaseModel]) -> BaseModel:
    data = extract_json(text)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the object"
        raise AnswerError(f"field {where}: {first['msg']}") from None
