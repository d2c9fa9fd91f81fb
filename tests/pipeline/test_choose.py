"""Judging and choosing candidates (``repoagent.pipeline.choose``): every rule that decides what ``fix`` returns."""

from __future__ import annotations

from editing.candidates import Candidate
from repoagent.pipeline.choose import TestedCandidate, choose, judge
from repoagent.testrun import TestOutcome, TestRun

PATCH = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"
BIG = PATCH + "@@ -5 +5,2 @@\n-c\n+d\n+e\n"


def run(*outcomes: tuple[str, str], exit_code: int = 0, timed_out: bool = False) -> TestRun:
    tests = [TestOutcome(name=n, outcome=o) for n, o in outcomes]  # type: ignore[arg-type]
    return TestRun(command="pytest", exit_code=exit_code, seconds=1.0, tests=tests, timed_out=timed_out)


def cand(patch: str = PATCH, votes: int = 1, error: str | None = None, round_no: int = 0) -> TestedCandidate:
    return TestedCandidate(candidate=Candidate(patch=patch, votes=votes, error=error), round=round_no)


REPRO_OK = ("tests.test_repoagent_reproduction::test_it", "passed")
REPRO_BAD = ("tests.test_repoagent_reproduction::test_it", "failed")


def test_judge_counts_only_tests_that_fail_now_and_did_not_before() -> None:
    tested = judge(cand(), run(("a", "failed"), ("b", "error"), ("c", "passed"), REPRO_OK), {"a"}, True)
    assert tested.new_failures == ["b"] and tested.repro_passes
    assert judge(cand(), run(("a", "passed"), REPRO_BAD), set(), True).new_failures == []  # the reproduction aside
    assert not judge(cand(), run(("a", "passed"), REPRO_BAD), set(), True).repro_passes
    assert not judge(cand(), run(("a", "passed")), set(), True).repro_passes  # it did not run at all
    assert not judge(cand(), run(REPRO_OK), set(), False).repro_passes  # there was none to pass
    broken = judge(cand(), run(exit_code=2), set(), True)
    assert broken.new_failures == ["(no test outcome was read from `pytest`)"]


def test_a_run_that_names_no_test_is_a_failure_never_a_pass() -> None:
    """Issue #28: `unittest discover` found nothing in a pytest-style project, exit 0, and the patch was 'resolved'."""
    nothing = TestRun(
        command="python3 -m unittest discover -v", exit_code=0, seconds=0.1, no_tests="unittest ran 0 tests"
    )
    tested = judge(cand(), nothing, set(), False)
    assert not tested.clean
    assert tested.new_failures == [
        "(no test outcome was read from `python3 -m unittest discover -v` (unittest ran 0 tests))"
    ]
    picked = choose([tested], has_repro=False)
    assert picked.index == 0 and not picked.resolved and picked.reason.endswith("1 newly failing")


def test_an_error_exit_that_names_no_failing_test_is_a_failure_even_when_it_failed_before() -> None:
    quiet_crash = judge(cand(), run(("a", "passed"), exit_code=1), set(), False)
    assert quiet_crash.new_failures == ["(the test command exited with 1 and named no failing test)"]
    assert not quiet_crash.clean and not choose([quiet_crash], has_repro=False).resolved
    known = judge(cand(), run(("a", "failed"), exit_code=1), {"a"}, False)  # failing before too: not blamed
    assert known.new_failures == [] and known.clean


def test_a_run_stopped_at_a_limit_is_never_clean() -> None:
    stopped = run(("a", "passed"))
    stopped.hit("disk", "the tests wrote more than 2048 MB (sandbox.disk_limit)")
    tested = judge(cand(), stopped, set(), False)
    assert not tested.clean and tested.new_failures == ["(the tests wrote more than 2048 MB (sandbox.disk_limit))"]
    assert not choose([tested], has_repro=False).resolved


def test_clean_needs_a_finished_run_with_no_new_failure() -> None:
    assert judge(cand(), run(("a", "passed")), set(), False).clean
    assert not judge(cand(), run(("a", "failed")), set(), False).clean
    assert not judge(cand(), run(("a", "passed"), timed_out=True), set(), False).clean
    assert not cand().clean  # never ran
    assert not judge(cand(error="refused"), run(("a", "passed")), set(), False).clean


def test_choose_ranks_by_applied_reproduction_failures_votes_then_size() -> None:
    refused = cand(error="refused")
    no_repro = judge(cand(votes=9), run(("a", "passed"), REPRO_BAD), set(), True)
    breaks = judge(cand(votes=9), run(("a", "failed"), REPRO_OK), set(), True)
    few_votes = judge(cand(votes=1), run(("a", "passed"), REPRO_OK), set(), True)
    many_votes_big = judge(cand(BIG, votes=2), run(("a", "passed"), REPRO_OK), set(), True)
    many_votes_small = judge(cand(PATCH, votes=2), run(("a", "passed"), REPRO_OK), set(), True)
    order = [refused, no_repro, breaks, few_votes, many_votes_big, many_votes_small]
    picked = choose(order, has_repro=True)
    assert picked.index == 5 and picked.resolved
    assert (
        picked.reason
        == "chosen from 6 candidates (round 0): 2 vote(s), reproduction test passes, no newly failing tests"
    )
    assert choose(order[:5], True).index == 4  # votes before size
    assert choose(order[:4], True).index == 3  # no new failure before votes
    assert choose(order[:3], True).index == 2 and not choose(order[:3], True).resolved  # it breaks a test
    assert choose(order[:2], True).index == 1 and not choose(order[:2], True).resolved  # reproduction fails
    assert choose(order[:1], True) == choose([], True)


def test_resolved_needs_the_reproduction_only_when_there_is_one() -> None:
    passes = judge(cand(), run(("a", "passed")), set(), False)
    assert choose([passes], has_repro=False).resolved
    assert not choose([passes], has_repro=True).resolved
    breaks = judge(cand(), run(("a", "failed"), ("b", "failed")), {"b"}, False)
    picked = choose([breaks], has_repro=False)
    assert not picked.resolved and picked.reason.endswith("1 newly failing")


def test_untested_choice_is_never_resolved() -> None:
    picked = choose([cand(votes=3), cand(BIG, votes=1)], has_repro=False, tested=False)
    assert picked.index == 0 and not picked.resolved
    assert picked.reason == "chosen from 2 candidates by the gates and 3 vote(s); untested"


def test_ties_keep_the_first_and_the_index_is_of_the_list_given() -> None:
    first = judge(cand(round_no=0), run(("a", "passed")), set(), False)
    second = judge(cand(round_no=1), run(("a", "passed")), set(), False)
    assert choose([first, second], False).index == 0
    refused = cand(error="x")
    assert choose([refused, second], False).index == 1
    assert "(round 1)" in choose([refused, second], False).reason


def _patch(removed: int, added: int) -> str:
    return "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@" + "\n-old" * removed + "\n+new" * added + "\n"


def test_the_smaller_diff_wins_counting_added_and_removed_lines() -> None:
    def tied(patch: str) -> TestedCandidate:
        return judge(cand(patch), run(("a", "passed")), set(), False)

    only_removes, small = tied(_patch(3, 0)), tied(_patch(1, 1))
    assert choose([only_removes, small], False).index == 1  # 2 lines beat 3, though 3 are all removals
    many_adds, few_adds = tied(_patch(1, 5)), tied(_patch(1, 1))
    assert choose([many_adds, few_adds], False).index == 1  # added lines count
    many_removes, few_removes = tied(_patch(5, 1)), tied(_patch(1, 1))
    assert choose([many_removes, few_removes], False).index == 1  # removed lines count


def test_nothing_applied_is_not_resolved_and_says_so() -> None:
    for candidates in ([], [cand(error="refused")]):
        picked = choose(candidates, True)
        assert picked.index is None and picked.resolved is False and picked.reason == "no candidate applied cleanly"
    untested = choose([cand()], False, tested=False)
    assert untested.resolved is False
    failing_repro = choose([judge(cand(), run(REPRO_BAD), set(), True)], True)
    assert failing_repro.reason == (
        "chosen from 1 candidates (round 0): 1 vote(s), no passing reproduction test, no newly failing tests"
    )
