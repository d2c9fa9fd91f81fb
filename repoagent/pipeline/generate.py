"""Generation: ask the model for whole replacement definitions at several temperatures.

Each sample is parsed into ``EditOp``s (a format error goes back to the model
once), applied as one transaction behind the gates, and turned into a
``Candidate``.  Identical fixes (same code once comments and formatting are
set aside) collapse into one candidate with a vote count.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from editing.answer_format import Answer, FormatError, read_answer
from editing.apply import apply_ops
from editing.candidates import Candidate, collapse, normalise
from editing.diff import patch_bytes
from editing.errors import EditError, ElisionError, GateError
from editing.ops import EditOp
from editing.other_formats import apply_search_replace, apply_unified_diff, diff_paths
from repoagent.chat import Message, ModelStopped
from repoagent.events import AnswerRejected, NoEvents
from repoagent.prompts import Prompts
from repoagent.protocols import ChatModel, EventSink
from retrieval.localization import Localization

prompt = Prompts(Path(__file__).parent / "prompts" / "generate")
Reader = Callable[[str], bytes]


def numbered(source: str, first_line: int) -> str:
    lines = source.splitlines()
    width = len(str(first_line + len(lines)))
    return "\n".join(f"{first_line + i:>{width}} | {line}" for i, line in enumerate(lines))


def generation_prompt(issue: str, loc: Localization, maps: dict[str, str]) -> str:
    blocks = []
    for x in loc.locations:
        blocks.append(
            f"## {x.path}::{x.qualname} (lines {x.start_line}-{x.end_line}, {x.role})\n"
            f"```\n{numbered(x.source, x.start_line)}\n```"
        )
    return prompt(
        "generate",
        issue=issue.strip(),
        locations="\n\n".join(blocks) or "(no locations were found)",
        maps="\n".join(maps.values()) or "(none)",
    )


@dataclass
class Sampler:
    model: ChatModel
    read: Reader
    events: EventSink = field(default_factory=NoEvents)
    parallel: int = 4
    path_problem: Callable[[str], str | None] | None = None  # e.g. the index's symbolic links

    def _default_target(self, loc: Localization) -> tuple[str, str] | None:
        edits = [x for x in loc.locations if x.role == "edit"]
        return (edits[0].path, edits[0].qualname) if len(edits) == 1 else None

    def sample(
        self, messages: list[Message], temperature: float, loc: Localization, stage: str = "generate"
    ) -> Candidate:
        """One sample: ask, read the answer, apply behind the gates; an unreadable answer goes back once.
        ``ModelStopped`` (the budget) propagates."""
        messages = list(messages)
        answer, error = "", ""
        for attempt in range(2):
            answer = self.model.complete(messages, temperature=temperature, stage=stage).text
            try:
                parsed = read_answer(answer, self._default_target(loc))
                self._check_paths(parsed)
                return self.build(parsed, temperature, answer)
            except (FormatError, ElisionError) as exc:
                error = str(exc)
                self.events.emit(AnswerRejected(stage=stage, attempt=attempt, error=error))
                messages += [Message("assistant", answer), Message("user", prompt("format_error", error=exc))]
        return Candidate(temperatures=[temperature], error=f"format: {error}", response=answer)

    def _check_paths(self, parsed: Answer) -> None:
        paths = [op.path for op in parsed.ops] + [b.path for b in parsed.blocks]
        paths += diff_paths(parsed.diff)
        for path in paths if self.path_problem else []:
            problem = self.path_problem(path)
            if problem:
                raise FormatError(problem)

    def build(self, parsed: Answer | list[EditOp], temperature: float, answer: str = "") -> Candidate:
        """The candidate an answer makes; ``FormatError`` and ``ElisionError`` propagate (the answer goes back)."""
        if isinstance(parsed, list):
            parsed = Answer("definitions", ops=parsed)
        ops = parsed.ops
        base = {"ops": ops, "temperatures": [temperature], "response": answer, "format": parsed.format}
        try:
            if parsed.format == "unified_diff":
                edits = apply_unified_diff(parsed.diff, self.read)
            elif parsed.format == "search_replace":
                edits = apply_search_replace(parsed.blocks, self.read)
            else:
                edits = apply_ops(ops, self.read)
        except GateError as exc:
            return Candidate(**base, error=str(exc), gate=exc.gate)
        except ElisionError:
            raise
        except EditError as exc:
            return Candidate(**base, error=str(exc), gate="apply")
        if not edits:
            return Candidate(**base, error="the edit changes nothing")
        return Candidate(
            **base,
            patch=patch_bytes(edits).decode("utf-8", errors="surrogateescape"),
            files={e.path: normalise(e.path, e.after) for e in edits},
        )

    def candidates(
        self, messages: list[Message], temperatures: list[float], per_temperature: int, loc: Localization
    ) -> list[Candidate]:
        """All samples, in temperature order, identical fixes collapsed into votes.  When the model stops, the
        first ``ModelStopped`` is raised once every sample has ended, with the finished ones as its ``partial``."""
        jobs = [t for t in temperatures for _ in range(per_temperature)]
        results: list[Candidate] = []
        stopped: ModelStopped | None = None
        with ThreadPoolExecutor(max_workers=max(1, min(self.parallel, len(jobs)))) as pool:
            for future in [pool.submit(self.sample, messages, t, loc) for t in jobs]:
                try:
                    results.append(future.result())
                except ModelStopped as exc:
                    stopped = stopped or exc
        if stopped is not None:
            raise ModelStopped(str(stopped), partial=collapse(results)) from stopped
        return collapse(results)


def first_messages(issue: str, loc: Localization, maps: dict[str, str]) -> list[Message]:
    return [Message("system", prompt("system")), Message("user", generation_prompt(issue, loc, maps))]
