"""Local grading: an instance's tests run in an environment built here, judged by the official code.

For each prediction: a copy of the repository at ``base_commit`` (sealed: no
later commit), the spec's edits of the tree (``runners.tree_edits``), the
prediction applied as the official harness applies it (``apply.apply_patch``:
``git apply``, ``git apply --reject``, ``patch --fuzz=5``; the report names the
one that applied), the test files reset and the test patch applied; then the
test command on the files the test patch touches (tox ``--current-env`` as the
commands tox would run), in the environment image of the instance's repository
and version, with no network.  The output is written as the official harness
writes its ``test_output.txt`` (start and end markers, the exit code), as the
tests printed it.  Test names are compared in a form both Python versions print
(3.11's unittest prints ``test_x (mod.Class.test_x)``, earlier ones ``test_x
(mod.Class)``): the expected names and the seen ones alike, counted as
``tests_renamed``.  The verdict comes from ``swebench.harness.grading`` with the
dataset's log parser.  Reports land where the official grader puts them
(``logs/run_evaluation/<run_id>/<model>/<instance_id>/report.json``), with
``"grader": "local"`` and the environment beside the official fields.  An
instance that cannot be graded (no mirror, commit, spec or environment) gets a
report that says why, and the others go on.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from swebench.harness.constants import APPLY_PATCH_FAIL as APPLY_FAILED
from swebench.harness.constants import APPLY_PATCH_PASS as APPLY_PASSED
from swebench.harness.constants import END_TEST_OUTPUT as END
from swebench.harness.constants import START_TEST_OUTPUT as START
from swebench.harness.constants import TESTS_TIMEOUT

from repoagent.cancel import Cancelled
from repoagent.errors import EnvironmentBuildError, UserError
from retrieval.git import git
from swebench_runner.data.checkout import sealed_copy
from swebench_runner.envs.images import Environments, EnvRecord
from swebench_runner.envs.runners import apply_tree_edits, is_tox_current_env, tox_as_run, tree_edits
from swebench_runner.envs.specs import TESTBED, EvalSpec, SpecEnvironment, make_eval_spec
from swebench_runner.grading.apply import apply_patch
from swebench_runner.grading.official import LOG_ROOT, official_version

_UNITTEST_311 = re.compile(r"^(\w+) \(([\w.]+)\.\1\)", re.M)
# a test id holding the checkout path of the machine that made the dataset (``/n/fs/.../owner__name__1.2/...``):
# pytest at /testbed prints that path as /testbed
_FOREIGN_CHECKOUT = re.compile(r"/[^\s\[\]]*?/[\w.-]+__[\w.-]+__\d[\w.]*/")
# what a test's failure to reach the network looks like in its output
_NO_NETWORK = re.compile(
    r"Temporary failure in name resolution|Name or service not known|gaierror|NewConnectionError"
    r"|Failed to establish a new connection|Network is unreachable|URLError|A download failure occurred"
)


def grader_name() -> str:
    return f"local grading (environments built here; swebench {official_version() or '?'} parsers and grading)"


def normalise_names(text: str) -> str:
    """``test_x (mod.Class.test_x)`` (Python 3.11's unittest) as ``test_x (mod.Class)``: the form both print, for
    the seen names and the expected ones alike."""
    return _UNITTEST_311.sub(r"\1 (\2)", text)


def expected_ids(names: list[str], parser: str) -> list[str]:
    """The dataset's test ids as ``parser`` writes the ids it reads from a log, so the two can be compared.

    An id that holds the checkout path of the machine that made the dataset (``/n/fs/.../owner__name__1.2/...``)
    is the one pytest prints at /testbed here; and a parser that rewrites ids (pydicom's shortens a path
    parameter to its last part) rewrites the expected ids alike: each id goes through the parser as the line
    ``PASSED <id>`` would.  Unittest's ids (with spaces) take the form every Python prints (``normalise_names``).
    """
    from swebench.harness.log_parsers import PARSER_REGISTRY

    parse = PARSER_REGISTRY.get(parser)
    out = []
    for name in names:
        name = normalise_names(_FOREIGN_CHECKOUT.sub(f"{TESTBED}/", name))
        if parse is not None and not any(c.isspace() for c in name):
            try:
                keys = list(parse(f"PASSED {name}\n", None))
            except Exception:  # a parser that wants more than one line's worth: the id as it is
                keys = []
            name = keys[0] if len(keys) == 1 else name
        out.append(name)
    return out


def network_evidence(log: str, limit: int = 3) -> list[str]:
    """The first lines of a test output that show a test failing to reach the network."""
    lines = [line.strip() for line in log.split(START, 1)[-1].splitlines() if _NO_NETWORK.search(line)]
    return [line[:300] for line in dict.fromkeys(lines)][:limit]


def _apply_test_patch(tree: Path, patch: str) -> str | None:
    """The test patch, as the official eval script applies it (``git apply -v``), with the same fallbacks as a
    prediction; None, or why it did not apply."""
    applied = apply_patch(tree, patch)
    return None if applied.ok else applied.output[-800:]


def report_from_log(row: dict[str, Any], patch: str | None, log: str, parser: str) -> dict[str, Any]:
    """The official report of ``patch`` on the dataset ``row`` from its test ``log``, by swebench's grading with
    the log ``parser``: a function of its inputs (the grader reads a copy in a folder of its own).  The names are
    compared in the form both Pythons print, the expected ones as the parser writes ids (``tests_renamed``)."""
    from swebench.harness.grading import get_eval_report
    from swebench.types import TestSpec

    iid = row["instance_id"]
    fail, passing = _tests(row.get("FAIL_TO_PASS")), _tests(row.get("PASS_TO_PASS"))
    expected = expected_ids(fail + passing, parser)
    spec = TestSpec(
        instance_id=iid,
        image="",
        eval_script_list=[],
        repo=row["repo"],
        version=str(row.get("version", "")),
        FAIL_TO_PASS=expected[: len(fail)],
        PASS_TO_PASS=expected[len(fail) :],
        log_parser=parser,
        eval_type=str(row.get("eval_type") or "pass_and_fail"),
    )
    prediction = {"instance_id": iid, "model_patch": patch, "model_name_or_path": "local"}
    with tempfile.TemporaryDirectory(prefix="repoagent-log-") as tmp:
        graded = Path(tmp) / "test_output.txt"
        graded.write_text(normalise_names(log))
        report = get_eval_report(spec, prediction, str(graded), include_tests_status=True)
    if renamed := sum(a != b for a, b in zip(fail + passing, expected, strict=True)):
        report[iid]["tests_renamed"] = renamed  # ids compared as the parser writes them (see expected_ids)
    return report


@dataclass
class _Run:
    """What one grading run did: the log, the command that ran, how the prediction applied."""

    log: str
    missing: list[str] = field(default_factory=list)
    command: str = ""
    applied_by: str | None = None
    tree_edits: list[str] = field(default_factory=list)


class LocalGrader:
    """Grades predictions in environments from ``envs``; writes the official report files under ``out``."""

    def __init__(self, envs: Environments, out: Path, run_id: str, timeout: float = 1800) -> None:
        self.envs = envs
        self.out = Path(out)
        self.run_id = run_id
        self.timeout = timeout

    def folder(self, model: str, instance_id: str) -> Path:
        return self.out / LOG_ROOT / self.run_id / model.replace("/", "__") / instance_id

    def grade(self, row: dict[str, Any], prediction: dict[str, Any]) -> dict[str, Any]:
        """Grade one prediction (``model_patch``) of the dataset ``row``; the report, also written to disk.  An
        instance that cannot be graded here (no mirror or commit, no spec, no environment) is reported ``not
        graded`` with the reason; nothing it lacks stops the caller."""
        iid = row["instance_id"]
        model = str(prediction.get("model_name_or_path") or "model")
        folder = self.folder(model, iid)
        folder.mkdir(parents=True, exist_ok=True)
        patch = prediction.get("model_patch")
        (folder / "patch.diff").write_text(patch or "")
        started = time.monotonic()
        record: EnvRecord | None = None
        report: dict[str, Any]
        try:
            record, env = self.envs.get(row["repo"], str(row.get("version", "")), _env_commit(row))
            if not record.built or env is None:
                report = _not_graded(iid, patch, record.reason or record.status)
            else:
                report = self._run(row, patch, env, record, folder)
        except EnvironmentBuildError as exc:  # the install at the instance's commit: not graded either
            report = _not_graded(iid, patch, f"the install at the instance's commit failed: {str(exc)[-1500:]}")
        except (UserError, OSError) as exc:  # a mirror without the commit, a clone that failed: this one only
            report = _not_graded(iid, patch, str(exc)[-1500:])
        except Cancelled:
            raise
        except Exception as exc:  # the engine's error, say: this instance is not graded, the others go on
            report = _not_graded(iid, patch, f"{type(exc).__name__}: {str(exc)[-1500:]}")
        report[iid].update(grader="local", environment=_environment_fields(record) if record else {})
        report[iid]["seconds"] = round(time.monotonic() - started, 1)
        (folder / "report.json").write_text(json.dumps(report, indent=2))
        return report

    def _run(
        self, row: dict[str, Any], patch: str | None, env: SpecEnvironment, record: EnvRecord, folder: Path
    ) -> dict[str, Any]:
        iid = row["instance_id"]
        grading = make_eval_spec(env.spec, row)
        official = grading.test_command
        run = self._test_log(row, patch or "", env, record, grading)
        (folder / "test_output.txt").write_text(run.log)
        if (compared := normalise_names(run.log)) != run.log:  # the names as the grader compares them
            (folder / "test_output.compared.txt").write_text(compared)
        report = report_from_log(row, patch, run.log, grading.parser)
        fields = report[iid]
        fields["graded"] = True
        fields["test_command"] = run.command
        if run.command != official:
            fields["official_test_command"] = official
        if run.tree_edits:
            fields["tree_edits"] = run.tree_edits  # the spec's sed steps, made on the instance's tree
        if run.applied_by is not None and patch:
            fields["patch_applied_by"] = run.applied_by
        tests_ran = START in run.log and END in run.log
        if run.applied_by and tests_ran:
            # the tests ran on the patched tree: applied, whatever the grader made of the output
            fields["patch_successfully_applied"] = True
        if not fields["resolved"] and not self.envs.sandbox.network and (seen := network_evidence(run.log)):
            # a test that wanted the network, which this grading has off: the failure may be the workplace's
            fields["network_wanted"] = seen
        if run.missing:  # a partial mirror: a failure may be the copy's, not the patch's
            fields["missing_files"] = run.missing
            # the ones the tests asked for, by name: then a failure is the copy's, and the report says so
            output = run.log.split(START, 1)[-1]
            fields["missing_files_used"] = [f for f in run.missing if f.rsplit("/", 1)[-1] in output]
        return report

    def _test_log(
        self, row: dict[str, Any], patch: str, env: SpecEnvironment, record: EnvRecord, grading: EvalSpec
    ) -> _Run:
        """The log as the official harness writes it: apply, test between the markers, the exit code."""
        mirror = self.envs.mirrors.ensure(row["repo"], row["base_commit"])
        with tempfile.TemporaryDirectory(prefix="repoagent-grade-") as tmp:
            sealed = sealed_copy(mirror, row["base_commit"], Path(tmp) / "repo")
            tree = Path(tmp) / "tree"
            git(sealed.path, "worktree", "add", "--detach", "-q", str(tree), sealed.commit)
            lines = [f"instance {row['instance_id']} at {sealed.commit}"]
            if sealed.missing:
                lines.append(f"note: the mirror lacks {len(sealed.missing)} file(s): {', '.join(sealed.missing)}")
            run = _Run("", sealed.missing, grading.test_command)
            run.tree_edits = apply_tree_edits(tree, tree_edits(env.spec))  # as the official image's pre_install
            applied = apply_patch(tree, patch)
            if not applied.ok:
                run.log = "\n".join([*lines, f"{APPLY_FAILED}: the prediction:", applied.output]) + "\n"
                return run
            run.applied_by = applied.by
            if applied.by:
                lines.append(f"{APPLY_PASSED} ({applied.by})")
            tests = [f for f in grading.test_files if (tree / f).exists()]
            if tests:  # the official script resets the test files before the test patch
                git(tree, "checkout", sealed.commit, "--", *tests)
            why = _apply_test_patch(tree, row.get("test_patch", ""))
            if why is not None:
                run.log = "\n".join([*lines, f"{APPLY_FAILED}: the test patch:", why]) + "\n"
                return run
            if is_tox_current_env(run.command):  # what tox would run, in this environment (see runners)
                tox_ini = tree / "tox.ini"
                as_run = tox_as_run(run.command, tox_ini.read_text(errors="replace")) if tox_ini.is_file() else None
                if as_run:
                    run.command = as_run
                    lines.append(f"tox --current-env, as tox would run it here: {as_run}")
            from repoagent.sandbox.docker_box import tar_tree

            box = self.envs.instance_box(env, record, row["base_commit"], run.command)
            image = box.env_image(tree, box.plan) if box.plan.steps else box.base
            if image != record.image:
                lines.append(f"installed at {row['base_commit'][:12]} over the environment: {image}")
            script = grading.script(run.command)
            result = box.run_archive(tar_tree(tree, TESTBED), script, self.timeout, image, junit=False, limit=None)
        lines.append(f"$ {run.command}")
        if result.timed_out:
            lines.append(f"{TESTS_TIMEOUT} after {self.timeout:g} s")
        run.log = "\n".join([*lines, result.stdout, result.stderr]) + "\n"
        return run


def _not_graded(iid: str, patch: str | None, why: str) -> dict[str, Any]:
    """The report of a prediction no test ran for: the official fields, unresolved, and why."""
    fields = {"patch_is_None": patch is None, "patch_exists": patch is not None}
    fields.update(patch_successfully_applied=False, resolved=False, graded=False, environment_failed=why)
    return {iid: fields}


def not_graded(iid: str, why: str) -> dict[str, Any]:
    """The report fields of an instance that could not be graded at all, and why."""
    return {**_not_graded(iid, None, why)[iid], "grader": "local"}


def _env_commit(row: dict[str, Any]) -> str:
    return str(row.get("environment_setup_commit") or row["base_commit"])


def _tests(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [str(v) for v in value or []]


def _environment_fields(record: EnvRecord) -> dict[str, Any]:
    fields = asdict(record)
    keys = ("key", "status", "python", "python_why", "uploaded_before", "image", "system_packages", "changes", "reason")
    return {k: fields[k] for k in keys if fields[k]}
