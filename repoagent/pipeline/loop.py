"""The test-execution feedback loop: reproduce, generate, test, send failures back, choose.

1. The tests that import or name the localized code run on the base revision,
   so tests failing before the change are not blamed on it.
2. The model writes a reproduction test; it is kept only if it fails on the
   base revision (else it is asked again, a bounded number of times).
3. Candidates are sampled at several temperatures; each runs the selected
   tests and the reproduction test in the sandbox.
4. While no candidate is clean, the best failing one goes back to the model
   with its trimmed failure, at most ``max_retries`` rounds.
5. The winner: reproduction test passing, no newly failing tests, most votes,
   smallest diff, in that order; ``LoopResult`` says why it won.

The loop draws nothing: it emits stage, test-run and candidate events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from editing.answer_format import FENCE
from editing.apply import FileEdit
from editing.candidates import Candidate
from editing.diff import file_diff
from repoagent.cancel import CancelToken
from repoagent.chat import ChatModel, Message, ModelStopped
from repoagent.events import AnswerRejected, CandidateTested, EventSink, NoEvents, Note, SandboxRun, StageStarted
from repoagent.pipeline.baseline import environment_problem, own_modules
from repoagent.pipeline.choice import TestedCandidate, choose, judge, missing_evidence
from repoagent.pipeline.generate import Sampler, first_messages, numbered
from repoagent.pipeline.test_selection import select_tests
from repoagent.prompts import Prompts
from repoagent.sandbox.protocol import EnvironmentBuildError, Sandbox
from repoagent.sandbox.testrun import TestRun, is_pytest
from repoagent.sandbox.tree import PatchRejected
from retrieval.index import RepoIndex
from retrieval.localization import Localization
from retrieval.maps import schematic_map

_prompt = Prompts(Path(__file__).parent / "prompts")
REPRO_PATH = "tests/test_repoagent_reproduction.py"
_NEW_TEST = re.compile(r"^#{2,4}\s*NEW TEST\s+`?(?P<path>[\w./-]+\.py)`?\s*$", re.M)


class LoopResult(BaseModel):
    issue: str
    patch: str = ""
    reason: str = ""
    resolved: bool = False
    tested: bool = True
    stopped: str = ""  # why the model was stopped early (budget), if it was
    tests: list[str] = Field(default_factory=list)
    baseline: TestRun | None = None
    reproduction: str = ""
    reproduction_run: TestRun | None = None
    candidates: list[TestedCandidate] = Field(default_factory=list)
    chosen: int | None = None  # index in ``candidates`` of the one whose patch this is
    environment_problem: str = ""  # the baseline showed a broken test environment: nothing was scored
    limit: str = ""  # the baseline run hit a sandbox limit (in words): nothing was scored


@dataclass(frozen=True)
class LoopOptions:
    """Built from the settings (``configs/default.yaml`` holds the values)."""

    temperatures: list[float]
    per_temperature: int
    max_retries: int
    repro_attempts: int
    timeout: float
    test_cmd: str
    untested_when_broken: bool = False

    @property
    def first_temperature(self) -> float:
        """Feedback rounds and the reproduction test are sampled at the first configured temperature."""
        return self.temperatures[0]


def new_file_patch(path: str, text: str) -> str:
    data = text if not text or text.endswith("\n") else text + "\n"
    return file_diff(FileEdit(path, b"", data.encode("utf-8", errors="surrogateescape")))


def failure_text(run: TestRun, limit: int = 4000) -> str:
    if run.limit_reason:
        return f"The tests were stopped: {run.limit_reason}."
    if run.timed_out:
        return "The tests did not finish within the time limit and were killed."
    failed = [t for t in run.tests if t.outcome in ("failed", "error")]
    head = "\n".join(f"- {t.name}: {t.message}" for t in failed[:10])
    tail = (run.stdout + "\n" + run.stderr).strip()[-limit:]
    return f"Failing tests:\n{head or '(none reported)'}\n\nOutput (end):\n{tail}"


class FixLoop:
    def __init__(
        self,
        model: ChatModel,
        sandbox: Sandbox | None,
        repo: Path,
        rev: str | None,
        index: RepoIndex,
        options: LoopOptions,
        events: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        """``sandbox`` None: no test runs; candidates are chosen by the gates and votes alone."""
        self.model = model
        self.sandbox = sandbox
        self.repo = repo
        self.rev = rev
        self.index = index
        self.options = options
        self.events = events if events is not None else NoEvents()
        self.cancel = cancel or CancelToken()

    def _say(self, message: str) -> None:
        self.events.emit(Note(message))

    def _stage(self, name: str, message: str = "") -> None:
        self.cancel.check()
        self.events.emit(StageStarted(stage=name, message=message))

    def _run_tests(self, tests: list[str], patch: str | None, label: str) -> TestRun:
        assert self.sandbox is not None
        self.cancel.check()
        cmd = " ".join([self.options.test_cmd, *tests]) if self._python_tests else self.options.test_cmd
        data = patch.encode("utf-8", errors="surrogateescape") if patch else None
        run = self.sandbox.run(self.repo, cmd, self.rev, data, self.options.timeout)
        self.events.emit(SandboxRun(label=label, patch=patch or "", run=run.model_dump()))
        return run

    @property
    def _python_tests(self) -> bool:
        return is_pytest(self.options.test_cmd)

    def run(self, issue: str, loc: Localization) -> LoopResult:
        changed: dict[str, list[str]] = {}
        for x in loc.locations:
            if x.role == "edit":
                changed.setdefault(x.path, []).append(x.qualname)
        tests = select_tests(self.index, changed) if self._python_tests else []
        result = LoopResult(issue=issue, tests=tests, tested=self.sandbox is not None)
        failing_before: set[str] = set()
        repro_patch = ""
        if self.sandbox is not None:
            self._stage("baseline", f"baseline: running {len(tests) or 'all'} test file(s) on the base revision")
            try:
                result.baseline = self._run_tests(tests, None, "baseline")
            except EnvironmentBuildError as exc:
                problem = str(exc)
            else:
                failing_before = {t.name for t in result.baseline.tests if t.outcome in ("failed", "error")}
                self._say(f"baseline: {_counts(result.baseline)}")
                if result.baseline.limit or result.baseline.timed_out:
                    result.limit = missing_evidence(result.baseline)
                    result.reason = f"the baseline tests were stopped, so no candidate was scored: {result.limit}"
                    self.events.emit(Note(result.reason, level="warning"))
                    return result
                problem = environment_problem(result.baseline, result.baseline.command, own_modules(self.index.files))
            if problem:
                self.events.emit(Note(f"the test environment is broken: {problem}", level="warning"))
                result.environment_problem = problem
                result.reason = f"the test environment is broken, so no candidate was scored: {problem}"
                if not self.options.untested_when_broken:
                    return result
                self._say("going on without tests (loop.untested_when_broken): the patch will be untested")
                self.sandbox, result.tested = None, False
            if self.sandbox is not None and self._python_tests and self.options.repro_attempts:
                try:
                    result.reproduction, result.reproduction_run = self._reproduction(issue, loc)
                except ModelStopped as exc:
                    return self._stop(result, str(exc), bool(repro_patch))
                repro_patch = new_file_patch(REPRO_PATH, result.reproduction) if result.reproduction else ""
        run_tests = tests + ([REPRO_PATH] if repro_patch and tests else [])
        maps = {p: schematic_map(self.index, p) for p in dict.fromkeys(x.path for x in loc.locations)}
        messages = first_messages(issue, loc, maps)
        sampler = Sampler(self.model, self.index.read, self.events, path_problem=self.index.link_problem)
        n = len(self.options.temperatures) * self.options.per_temperature
        self._stage("generate", f"generate: sampling {n} candidate(s) at temperatures {self.options.temperatures}")
        pool = sampler.candidates(messages, self.options.temperatures, self.options.per_temperature, loc)
        for round_no in range(self.options.max_retries + 1):
            stopped = next((c.error for c in pool if c.gate == "stopped"), "")
            pool = [c for c in pool if c.gate != "stopped"]
            ok = [c for c in pool if c.ok]
            self._say(f"round {round_no}: {len(ok)} of {len(pool)} candidate(s) passed the gates")
            for cand in pool:
                tested = self._score(cand, run_tests, repro_patch, failing_before, round_no)
                result.candidates.append(tested)
                self._candidate_event(len(result.candidates), tested, bool(repro_patch))
            if stopped:
                return self._stop(result, stopped, bool(repro_patch))
            if self.sandbox is None or any(s.clean and (s.repro_passes or not repro_patch) for s in result.candidates):
                break
            if round_no == self.options.max_retries:
                break
            best = sorted(result.candidates, key=TestedCandidate.rank_key)[0]
            feedback = best.candidate.error or (failure_text(best.run) if best.run else "no test ran")
            follow = messages + [
                Message("assistant", best.candidate.response or "(no answer)"),
                Message("user", _prompt("feedback", failure=feedback)),
            ]
            self._stage("feedback", f"feedback: sending the best failing candidate back (round {round_no + 1})")
            sampler.stage = "feedback"
            pool = [sampler.sample(follow, self.options.first_temperature, loc)]
        return self._choose(result, bool(repro_patch))

    def _candidate_event(self, number: int, tested: TestedCandidate, has_repro: bool) -> None:
        cand = tested.candidate
        self.events.emit(
            CandidateTested(
                number=number,
                round=tested.round,
                patch_id=cand.patch_id if cand.ok else "",
                ok=cand.ok,
                error=cand.error or "",
                resolves=tested.clean and (tested.repro_passes or not has_repro) and self.sandbox is not None,
                new_failures=len(tested.new_failures),
            )
        )

    def _stop(self, result: LoopResult, why: str, has_repro: bool) -> LoopResult:
        self._say(f"stopped: {why}")
        result.stopped = why
        return self._choose(result, has_repro)

    def _score(
        self, cand: Candidate, tests: list[str], repro_patch: str, failing_before: set[str], round_no: int
    ) -> TestedCandidate:
        tested = TestedCandidate(candidate=cand, round=round_no)
        if not cand.ok or self.sandbox is None:
            return tested
        try:
            run = self._run_tests(tests, cand.patch + repro_patch, f"candidate {cand.patch_id} (round {round_no})")
        except PatchRejected as exc:  # this candidate is dropped with its reason; the run goes on
            tested.candidate = cand.model_copy(update={"error": str(exc), "gate": "apply"})
            return tested
        return judge(tested, run, failing_before, bool(repro_patch))

    def _choose(self, result: LoopResult, has_repro: bool) -> LoopResult:
        picked = choose(result.candidates, has_repro, tested=self.sandbox is not None)
        result.chosen, result.resolved, result.reason = picked.index, picked.resolved, picked.reason
        if result.environment_problem:  # gone on without tests (loop.untested_when_broken): say why
            result.reason = f"{picked.reason}; the test environment is broken: {result.environment_problem}"
        result.patch = result.candidates[picked.index].candidate.patch if picked.index is not None else ""
        return result

    def _reproduction(self, issue: str, loc: Localization) -> tuple[str, TestRun | None]:
        """A test that fails on the base revision, or "" when the model cannot write one."""
        locations = "\n\n".join(
            f"## {x.path}::{x.qualname}\n```\n{numbered(x.source, x.start_line)}\n```"
            for x in loc.locations
            if x.role == "edit"
        )
        messages = [Message("user", _prompt("reproduce", issue=issue, locations=locations, path=REPRO_PATH))]
        self._stage("reproduce", "reproduce: asking for a test that fails on the base revision")
        for attempt in range(self.options.repro_attempts):
            answer = self.model.complete(messages, temperature=self.options.first_temperature, stage="reproduce").text
            code, error = _read_test(answer), ""
            if code is None:
                error = "no '### NEW TEST path' header followed by a fenced block was found"
            else:
                label = f"reproduction (attempt {attempt})"
                run = self._run_tests([REPRO_PATH], new_file_patch(REPRO_PATH, code), label)
                if run.failed or run.errors:
                    self._say("reproduce: the test fails on the base revision; kept")
                    return code, run
                error = "it passes on the current, unfixed code" if run.passed else "it ran no test"
            self.events.emit(AnswerRejected(stage="reproduce", attempt=attempt, error=error))
            messages += [Message("assistant", answer), Message("user", _prompt("reproduce_retry", error=error))]
        self._say("reproduce: no usable reproduction test; going on without one")
        return "", None


def _counts(run: TestRun) -> str:
    s = run.summary()
    return f"{s['passed']} passed, {s['failed']} failed, {s['errors']} errors in {s['seconds']} s"


def _read_test(answer: str) -> str | None:
    head = _NEW_TEST.search(answer)
    if head is None:
        return None
    fence = FENCE.search(answer, head.end())
    return fence.group("code") if fence else None
