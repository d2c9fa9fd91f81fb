"""The test-execution feedback loop: baseline, reproduce, generate and test in rounds, choose.

1. The tests that import or name the localized code run on the base revision
   (``baseline``), so tests failing before the change are not blamed on it.
2. The model writes a reproduction test (``reproduce``), kept only if it fails
   on the base revision.
3. Candidates are sampled at several temperatures (``generate``); each runs the
   selected tests and the reproduction test in the sandbox.
4. While no candidate is clean, the best failing one goes back to the model
   with its trimmed failure, at most ``max_retries`` rounds.
5. The winner (``choose``): reproduction test passing, no newly failing tests,
   most votes, smallest diff; ``LoopResult`` says why it won.

Running out of budget is ``ModelStopped``: the loop chooses among what it tested.
The loop draws nothing: it emits stage, test-run and candidate events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from editing.candidates import Candidate
from repoagent.chat import Message, ModelStopped
from repoagent.config import GenerationSettings, LoopSettings
from repoagent.events import CandidateTested
from repoagent.pipeline.baseline import run_baseline
from repoagent.pipeline.choose import TestedCandidate, choose, judge
from repoagent.pipeline.generate import Sampler, first_messages
from repoagent.pipeline.outcome import LoopResult
from repoagent.pipeline.reproduce import REPRO_PATH, Reproduction, reproduce
from repoagent.pipeline.stages import Stages
from repoagent.pipeline.test_selection import select_tests
from repoagent.pipeline.tester import Tester
from repoagent.prompts import Prompts
from repoagent.protocols import ChatModel
from repoagent.sandbox.tree import PatchRejected
from repoagent.testrun import TestRun, is_pytest
from retrieval.index import RepoIndex
from retrieval.localization import Localization
from retrieval.maps import schematic_map

prompt = Prompts(Path(__file__).parent / "prompts" / "test_loop")


@dataclass(frozen=True)
class LoopOptions:
    """The ``generation`` and ``loop`` sections as they are, the sandbox's timeout and the test command."""

    generation: GenerationSettings
    loop: LoopSettings
    timeout: float
    test_cmd: str

    @property
    def first_temperature(self) -> float:
        """Feedback rounds and the reproduction test are sampled at the first configured temperature."""
        return self.generation.temperatures[0]


@dataclass
class Evidence:
    """What a candidate is judged against: the selected tests, those failing before, the reproduction test."""

    tests: list[str]
    failing_before: set[str] = field(default_factory=set)
    reproduction: Reproduction = field(default_factory=Reproduction)

    @property
    def run_tests(self) -> list[str]:
        """The tests a candidate runs: the selected ones and the reproduction test (all, when none are selected)."""
        return self.tests + ([REPRO_PATH] if self.reproduction.code and self.tests else [])


def failure_text(run: TestRun, limit: int = 4000) -> str:
    if run.limit_reason:
        return f"The tests were stopped: {run.limit_reason}."
    if run.timed_out:
        return "The tests did not finish within the time limit and were killed."
    failed = [t for t in run.tests if t.outcome in ("failed", "error")]
    head = "\n".join(f"- {t.name}: {t.message}" for t in failed[:10])
    tail = (run.stdout + "\n" + run.stderr).strip()[-limit:]
    return f"Failing tests:\n{head or '(none reported)'}\n\nOutput (end):\n{tail}"


def verify(
    model: ChatModel, tester: Tester | None, index: RepoIndex, loc: Localization, options: LoopOptions, stages: Stages
) -> LoopResult:
    """Baseline, reproduce, generate and test, choose; ``tester`` None: no test runs, the gates and votes choose."""
    changed: dict[str, list[str]] = {}
    for x in (x for x in loc.locations if x.role == "edit"):
        changed.setdefault(x.path, []).append(x.qualname)
    python = is_pytest(options.test_cmd)
    result = LoopResult(issue=loc.issue, tests=select_tests(index, changed) if python else [], tested=bool(tester))
    evidence = Evidence(result.tests)
    try:
        if tester is not None:
            tester = _baseline(tester, index, result, evidence, options)
            if result.limit or (result.environment_problem and result.tested):  # nothing can be judged
                return result
        if tester is not None and python and options.loop.reproduction_attempts:
            evidence.reproduction = reproduce(
                model, tester, loc.issue, loc, options.loop.reproduction_attempts, options.first_temperature
            )
            result.reproduction, result.reproduction_run = evidence.reproduction.code, evidence.reproduction.run
        sampler = Sampler(model, index.read, stages, path_problem=index.link_problem)
        maps = {p: schematic_map(index, p) for p in dict.fromkeys(x.path for x in loc.locations)}
        _rounds(sampler, tester, first_messages(loc.issue, loc, maps), loc, evidence, options, result, stages)
    except ModelStopped as exc:
        result.stopped = str(exc)
    if result.stopped:
        stages.end("stopped", why=result.stopped)
    return result.record(choose(result.candidates, bool(evidence.reproduction.code), tested=result.tested))


def _baseline(
    tester: Tester, index: RepoIndex, result: LoopResult, evidence: Evidence, options: LoopOptions
) -> Tester | None:
    """The baseline into ``result``; the tester to go on with (None: on without tests), or a reason to stop."""
    baseline = run_baseline(tester, result.tests, index.files)
    result.baseline, evidence.failing_before = baseline.run, baseline.failing
    if baseline.limit:
        result.limit = baseline.limit
        result.reason = f"the baseline tests were stopped, so no candidate was scored: {baseline.limit}"
        tester.stages.warn(result.reason)
        return tester
    if not baseline.problem:
        return tester
    tester.stages.warn(f"the test environment is broken: {baseline.problem}")
    result.environment_problem = baseline.problem
    result.reason = f"the test environment is broken, so no candidate was scored: {baseline.problem}"
    if not options.loop.untested_when_broken:
        return tester
    tester.stages.end("untested")
    result.tested = False
    return None


def _rounds(
    sampler: Sampler,
    tester: Tester | None,
    messages: list[Message],
    loc: Localization,
    evidence: Evidence,
    options: LoopOptions,
    result: LoopResult,
    stages: Stages,
) -> None:
    """Sample, test, send the best failure back: at most ``max_retries`` more rounds, until one is clean."""
    temperatures, each = options.generation.temperatures, options.generation.samples_per_temperature
    stages.start("generate", samples=len(temperatures) * each, temperatures=temperatures)
    pool, stopped = _drawn(lambda: sampler.candidates(messages, temperatures, each, loc))
    for round_no in range(options.loop.max_retries + 1):
        stages.end("gates", round=round_no, passed=sum(c.ok for c in pool), candidates=len(pool))
        for cand in pool:
            tested = _score(tester, cand, evidence, round_no)
            result.candidates.append(tested)
            _tested_event(stages, len(result.candidates), tested, evidence, tester is not None)
        if stopped:
            result.stopped = stopped
            return
        has_repro = bool(evidence.reproduction.code)
        if tester is None or any(s.clean and (s.repro_passes or not has_repro) for s in result.candidates):
            return
        if round_no == options.loop.max_retries:
            return
        best = sorted(result.candidates, key=TestedCandidate.rank_key)[0]
        feedback = best.candidate.error or (failure_text(best.run) if best.run else "no test ran")
        follow = messages + [
            Message("assistant", best.candidate.response or "(no answer)"),
            Message("user", prompt("feedback", failure=feedback)),
        ]
        stages.start("feedback", round=round_no + 1)
        pool, stopped = _drawn(lambda f=follow: [sampler.sample(f, options.first_temperature, loc, stage="feedback")])


def _drawn(draw: Callable[[], list[Candidate]]) -> tuple[list[Candidate], str]:
    """The samples drawn, and why the model stopped ("" when it did not): those finished before are kept."""
    try:
        return draw(), ""
    except ModelStopped as exc:
        return [c for c in exc.partial if isinstance(c, Candidate)], str(exc)


def _score(tester: Tester | None, cand: Candidate, evidence: Evidence, round_no: int) -> TestedCandidate:
    tested = TestedCandidate(candidate=cand, round=round_no)
    if not cand.ok or tester is None:
        return tested
    patch = cand.patch + evidence.reproduction.patch
    try:
        run = tester.run(evidence.run_tests, patch, f"candidate {cand.patch_id} (round {round_no})")
    except PatchRejected as exc:  # this candidate is dropped with its reason; the run goes on
        tested.candidate = cand.model_copy(update={"error": str(exc), "gate": "apply"})
        return tested
    return judge(tested, run, evidence.failing_before, bool(evidence.reproduction.code))


def _tested_event(stages: Stages, number: int, tested: TestedCandidate, evidence: Evidence, sandbox: bool) -> None:
    cand, has_repro = tested.candidate, bool(evidence.reproduction.code)
    stages.emit(
        CandidateTested(
            number=number,
            round=tested.round,
            patch_id=cand.patch_id if cand.ok else "",
            ok=cand.ok,
            error=cand.error or "",
            resolves=tested.clean and (tested.repro_passes or not has_repro) and sandbox,
            new_failures=len(tested.new_failures),
        )
    )
