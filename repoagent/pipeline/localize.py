"""Stages 2 to 4 of localization: the model picks files, then symbols; we gather the locations.

Every model answer is validated; an unusable one is sent back with the error
(``localize.attempts`` tries in all) and then the retrieval ranking stands in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repoagent.chat import Completion, Message, ModelStopped
from repoagent.config import LocalizeSettings, MapSettings
from repoagent.events import AnswerRejected, NoEvents
from repoagent.prompts import Prompts
from repoagent.protocols import ChatModel, EventSink
from retrieval.answers import AnswerError, FileSelection, SymbolSelection, parse_answer
from retrieval.index import RepoIndex
from retrieval.localization import FileChoice, Localization, Location, StageRecord, SymbolChoice
from retrieval.maps import estimate_tokens, file_map, schematic_map
from retrieval.neighbours import Neighbours
from retrieval.retriever import Retrieval, Retriever
from retrieval.symbols import Symbol

prompt = Prompts(Path(__file__).parent / "prompts" / "localize")


@dataclass(frozen=True)
class LocalizerOptions:
    """Limits of each stage: the ``localize`` and ``maps`` sections as they are, and how many files and
    definitions retrieval hands over (``retrieval.top_k_files``, ``top_k_symbols``; a command may ask for more)."""

    localize: LocalizeSettings
    maps: MapSettings
    top_k: int
    top_symbols: int


class Localizer:
    def __init__(
        self,
        index: RepoIndex,
        retriever: Retriever,
        model: ChatModel | None,
        options: LocalizerOptions,
        events: EventSink | None = None,
    ) -> None:
        self.index = index
        self.retriever = retriever
        self.model = model
        self.options = options
        self.events = events if events is not None else NoEvents()
        self.neighbours = Neighbours(index, retriever.code_bm25)

    def localize(self, issue: str) -> Localization:
        opts = self.options
        result = self.retriever.retrieve(issue, top_files=max(50, opts.top_k), top_symbols=opts.top_symbols)
        loc = retrieval_localization(self.index, issue, result, max(opts.top_k, 20))
        steps = self.index.steps
        if self.model is None:
            with steps.step("locations"):
                top = loc.symbols[: opts.localize.max_symbols]
                loc.locations = self._locations(top, [], [f.path for f in result.files])
            loc.steps = steps.to_list()
            return loc
        with steps.step("select files"):
            files = self._select_files(issue, loc)
        with steps.step("select definitions"):
            picks = self._select_symbols(issue, loc, files)
        with steps.step("locations"):
            loc.locations = self._locations(picks, files, [f.path for f in result.files])
        loc.steps = steps.to_list()
        return loc

    # -- model calls -----------------------------------------------------------------

    def _ask(self, stage: str, user: str, schema: type, check: Callable[[Any], None]) -> tuple[Any, StageRecord]:
        assert self.model is not None
        messages = [Message("system", prompt("system")), Message("user", user)]
        rec = StageRecord(stage=stage)
        for attempt in range(self.options.localize.attempts):
            try:
                answer: Completion = self.model.complete(messages, temperature=0.0, stage=stage)
            except ModelStopped as exc:  # keep the retrieval ranking
                rec.detail["stopped"] = str(exc)
                break
            rec.prompt_tokens += answer.prompt_tokens
            rec.completion_tokens += answer.completion_tokens
            try:
                parsed = parse_answer(answer.text, schema)
                check(parsed)
            except AnswerError as exc:
                self.events.emit(AnswerRejected(stage=stage, attempt=attempt, error=str(exc)))
                messages += [Message("assistant", answer.text), Message("user", prompt("retry", error=exc))]
                rec.detail.setdefault("errors", []).append(str(exc))
                continue
            rec.reasons = getattr(parsed, "reason", "")
            return parsed, rec
        rec.fallback = True
        return None, rec

    def _select_files(self, issue: str, loc: Localization) -> list[str]:
        opts = self.options
        candidates = [f.path for f in loc.files[: opts.localize.candidate_files]]
        with self.index.steps.step("maps"):
            fmap = file_map(self.index, candidates, budget=opts.maps.file_map_tokens)

        def check(sel: FileSelection) -> None:
            bad = [p for p in sel.files if p not in self.index.files]
            if bad:
                raise AnswerError(f"these paths are not files of the repository: {', '.join(bad)}")

        user = prompt("select_files", issue=issue, file_map=fmap, max_files=opts.localize.max_files)
        sel, rec = self._ask("select_files", user, FileSelection, check)
        chosen = (
            list(dict.fromkeys(sel.files))[: opts.localize.max_files] if sel else candidates[: opts.localize.max_files]
        )
        loc.stages.append(rec)
        by_path = {f.path: f for f in loc.files}
        head = [by_path.get(p) or FileChoice(path=p) for p in chosen]
        for f in head:
            f.reasons = ["model: stage 2" if sel else "fallback: retrieval rank", *f.reasons]
        loc.files = head + [f for f in loc.files if f.path not in chosen]
        return chosen

    def _select_symbols(self, issue: str, loc: Localization, files: list[str]) -> list[SymbolChoice]:
        opts = self.options
        per_file = max(300, opts.maps.schematic_map_tokens // max(1, len(files)) * 2)
        with self.index.steps.step("maps"):
            maps = "\n".join(schematic_map(self.index, p, budget=per_file) for p in files)

        def check(sel: SymbolSelection) -> None:
            bad = [f"{s.path}::{s.name}" for s in sel.symbols if self._symbol(s.path, s.name) is None]
            if bad:
                raise AnswerError(f"these are not definitions in the maps shown: {', '.join(bad)}")

        user = prompt("select_symbols", issue=issue, schematic_maps=maps, max_symbols=opts.localize.max_symbols)
        sel, rec = self._ask("select_symbols", user, SymbolSelection, check)
        loc.stages.append(rec)
        if sel is None:
            picks = [s for s in loc.symbols if s.path in files][: opts.localize.max_symbols]
            for s in picks:
                s.reasons = ["fallback: retrieval rank", *s.reasons]
        else:
            loc.new_definition_needed = sel.new_definition_needed
            picks = []
            for pick in sel.symbols[: opts.localize.max_symbols]:
                sym = self._symbol(pick.path, pick.name)
                assert sym is not None
                picks.append(
                    SymbolChoice(
                        path=pick.path,
                        qualname=sym.qualname,
                        kind=pick.action if pick.action in ("edit", "read") else "edit",
                        start_line=sym.start_line,
                        end_line=sym.end_line,
                        reasons=[f"model: {pick.action}"],
                    )
                )
        chosen = {p.id for p in picks}
        loc.symbols = picks + [s for s in loc.symbols if s.id not in chosen]
        return picks

    def _symbol(self, path: str, name: str) -> Symbol | None:
        entry = self.index.files.get(path)
        if entry is None:
            return None
        for sym in entry.symbols:
            if sym.is_definition and name in (sym.qualname, sym.name):
                return sym
        return None

    # -- stage 4 ---------------------------------------------------------------------

    def _locations(self, picks: list[SymbolChoice], files: list[str], ranked: list[str]) -> list[Location]:
        """The picked definitions' source, then their callers and callees, within ``locations_tokens``."""
        budget = self.options.localize.locations_tokens
        out: list[Location] = []
        used = 0
        seen: set[tuple[str, str]] = set()

        def add(path: str, sym: Symbol, role: str) -> bool:
            nonlocal used
            if (path, sym.qualname) in seen:
                return True
            text = self.index.read(path)[sym.start_byte : sym.end_byte].decode("utf-8", errors="replace")
            cost = estimate_tokens(text)
            if used + cost > budget:
                return False
            used += cost
            seen.add((path, sym.qualname))
            out.append(
                Location(
                    path=path,
                    qualname=sym.qualname,
                    start_line=sym.start_line,
                    end_line=sym.end_line,
                    role=role,
                    source=text,
                )
            )
            return True

        targets: list[tuple[str, Symbol]] = []
        for pick in picks:
            sym = self.index.symbol(pick.path, pick.qualname)
            if sym is not None and add(pick.path, sym, "read" if pick.kind == "read" else "edit"):
                targets.append((pick.path, sym))
        for path, sym in targets:
            for rel_path, rel, role in self.neighbours.of(path, sym, files, ranked):
                if not add(rel_path, rel, role):
                    return out
        return out


def retrieval_localization(index: RepoIndex, issue: str, result: Retrieval, top_k: int) -> Localization:
    """Stage 1 alone, as a ``Localization`` (what ``--no-llm`` returns)."""
    return Localization(
        issue=issue,
        repo=str(index.source.path),
        revision=index.source.commit,
        files=[FileChoice(path=f.path, score=f.score, reasons=f.reasons) for f in result.files[:top_k]],
        symbols=[
            SymbolChoice(
                path=s.path,
                qualname=s.qualname,
                kind=s.kind,
                start_line=s.start_line,
                end_line=s.end_line,
                score=s.score,
                reasons=s.reasons,
            )
            for s in result.symbols
        ],
        test_files=[FileChoice(path=f.path, score=f.score, reasons=f.reasons) for f in result.test_files[:top_k]],
        stages=[StageRecord(stage="retrieve", reasons="fused BM25, dense and issue signals")],
    )
