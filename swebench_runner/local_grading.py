"""Local grading: an instance's tests run in an environment built here, judged by the official code.

For each prediction: a copy of the repository at ``base_commit`` (sealed: no
later commit), the prediction applied (``git apply``, else ``patch --fuzz=5``,
as the official eval script does), the test files reset and the test patch
applied; then the test command on the files the test patch touches, in the
environment image of the instance's repository and version, with no network.
The output is written as the official harness writes its ``test_output.txt``
(start and end markers, the exit code), test names are normalised (Python
3.11's unittest prints ``test_x (mod.Class.test_x)`` where the datasets say
``test_x (mod.Class)``), and the verdict comes from ``swebench.harness.grading``
with the dataset's log parser.  Reports land where the official grader puts
them (``logs/run_evaluation/<run_id>/<model>/<instance_id>/report.json``), with
``"grader": "local"`` and the environment beside the official fields.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from swebench.harness.constants import APPLY_PATCH_FAIL as APPLY_FAILED
from swebench.harness.constants import END_TEST_OUTPUT as END
from swebench.harness.constants import START_TEST_OUTPUT as START
from swebench.harness.constants import TEST_EXIT_CODE as EXIT_CODE
from swebench.harness.constants import TESTS_TIMEOUT

from repoagent.core.gitcmd import git
from repoagent.sandbox.protocol import EnvironmentBuildError
from swebench_runner.checkout import sealed_copy
from swebench_runner.local_env import Environments, EnvRecord
from swebench_runner.official import LOG_ROOT, official_version
from swebench_runner.specs import TESTBED, directives_of, instance_test_command

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


def normalise_names(log: str) -> str:
    """``test_x (mod.Class.test_x)`` (Python 3.11's unittest) as ``test_x (mod.Class)`` (the datasets' form)."""
    return _UNITTEST_311.sub(r"\1 (\2)", log)


def expected_ids(names: list[str], parser: str) -> list[str]:
    """The dataset's test ids as ``parser`` writes the ids it reads from a log, so the two can be compared.

    An id that holds the checkout path of the machine that made the dataset (``/n/fs/.../owner__name__1.2/...``)
    is the one pytest prints at /testbed here; and a parser that rewrites ids (pydicom's shortens a path
    parameter to its last part) rewrites the expected ids alike: each id goes through the parser as the line
    ``PASSED <id>`` would.  Ids with spaces (unittest's ``test_x (mod.Class)``) are left as they are.
    """
    from swebench.harness.log_parsers import PARSER_REGISTRY

    parse = PARSER_REGISTRY.get(parser)
    out = []
    for name in names:
        name = _FOREIGN_CHECKOUT.sub(f"{TESTBED}/", name)
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


def parser_name(row: dict[str, Any]) -> str:
    """The dataset's log parser, else the official one for the repository."""
    if row.get("log_parser"):
        return str(row["log_parser"])
    from swebench.harness.log_parsers import PARSER_REGISTRY
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY

    parser = MAP_REPO_TO_PARSER_PY.get(row["repo"])
    for name, fn in PARSER_REGISTRY.items():
        if fn is parser:
            return name
    return "parse_log_pytest"


def _apply(tree: Path, patch: str) -> str | None:
    """Apply ``patch`` in ``tree`` as the official eval script does; None, or why it did not apply."""
    if not patch.strip():
        return None
    data = patch.encode() if patch.endswith("\n") else (patch + "\n").encode()
    first = git(tree, "apply", "--whitespace=nowarn", "-", input=data)
    if first.returncode == 0:
        return None
    if shutil.which("patch"):
        fuzzy = subprocess.run(["patch", "--batch", "--fuzz=5", "-p1"], cwd=tree, input=data, capture_output=True)
        if fuzzy.returncode == 0:
            return None
    return first.stderr.decode(errors="replace").strip()[-500:]


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
        """Grade one prediction (``model_patch``) of the dataset ``row``; the report, also written to disk."""
        iid = row["instance_id"]
        model = str(prediction.get("model_name_or_path") or "model")
        folder = self.folder(model, iid)
        folder.mkdir(parents=True, exist_ok=True)
        patch = prediction.get("model_patch")
        (folder / "patch.diff").write_text(patch or "")
        started = time.monotonic()
        record, env = self.envs.get(row["repo"], str(row.get("version", "")), _env_commit(row))
        report: dict[str, Any]
        if not record.built or env is None:
            report = _not_graded(iid, patch, record.reason or record.status)
        else:
            try:
                report = self._run(row, patch, env, record, folder)
            except EnvironmentBuildError as exc:  # the install at the instance's commit: not graded either
                report = _not_graded(iid, patch, f"the install at the instance's commit failed: {str(exc)[-1500:]}")
        report[iid].update(grader="local", environment=_environment_fields(record))
        report[iid]["seconds"] = round(time.monotonic() - started, 1)
        (folder / "report.json").write_text(json.dumps(report, indent=2))
        return report

    def _run(self, row: dict[str, Any], patch: str | None, env: Any, record: EnvRecord, folder: Path) -> dict[str, Any]:
        from swebench.harness.grading import get_eval_report
        from swebench.types import TestSpec

        iid = row["instance_id"]
        command = instance_test_command(env.spec, row)
        parser = parser_name(row)
        log, missing = self._test_log(row, patch or "", env, record, command)
        (folder / "test_output.txt").write_text(log)
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
        report = get_eval_report(spec, prediction, str(folder / "test_output.txt"), include_tests_status=True)
        report[iid]["graded"] = True
        report[iid]["test_command"] = command
        if renamed := sum(a != b for a, b in zip(fail + passing, expected, strict=True)):
            report[iid]["tests_renamed"] = renamed  # ids compared as the parser writes them (see expected_ids)
        if not report[iid]["resolved"] and not self.envs.sandbox.network and (seen := network_evidence(log)):
            # a test that wanted the network, which this grading has off: the failure may be the workplace's
            report[iid]["network_wanted"] = seen
        if missing:  # a partial mirror: a failure may be the copy's, not the patch's
            report[iid]["missing_files"] = missing
            # the ones the tests asked for, by name: then a failure is the copy's, and the report says so
            report[iid]["missing_files_used"] = [f for f in missing if f.rsplit("/", 1)[-1] in log.split(START, 1)[-1]]
        return report

    def _test_log(
        self, row: dict[str, Any], patch: str, env: Any, record: EnvRecord, command: str
    ) -> tuple[str, list[str]]:
        """The log as the official harness writes it: apply, test between the markers, the exit code."""
        mirror = self.envs.mirrors.ensure(row["repo"], row["base_commit"])
        with tempfile.TemporaryDirectory(prefix="repoagent-grade-") as tmp:
            sealed = sealed_copy(mirror, row["base_commit"], Path(tmp) / "repo")
            tree = Path(tmp) / "tree"
            git(sealed.path, "worktree", "add", "--detach", "-q", str(tree), sealed.commit)
            lines = [f"instance {row['instance_id']} at {sealed.commit}"]
            if sealed.missing:
                lines.append(f"note: the mirror lacks {len(sealed.missing)} file(s): {', '.join(sealed.missing)}")
            missing = sealed.missing
            why = _apply(tree, patch)
            if why is not None:
                return "\n".join([*lines, f"{APPLY_FAILED}: the prediction: {why}"]) + "\n", missing
            tests = [f for f in directives_of(row.get("test_patch", ""), "") if (tree / f).exists()]
            if tests:  # the official script resets the test files before the test patch
                git(tree, "checkout", sealed.commit, "--", *tests)
            why = _apply(tree, row.get("test_patch", ""))
            if why is not None:
                return "\n".join([*lines, f"{APPLY_FAILED}: the test patch: {why}"]) + "\n", missing
            from repoagent.sandbox.docker_box import tar_tree

            box = self.envs.instance_box(env, record, row["base_commit"], command)
            image = box.env_image(tree, box.plan) if box.plan.steps else box.base
            if image != record.image:
                lines.append(f"installed at {row['base_commit'][:12]} over the environment: {image}")
            script = "\n".join(
                [*[str(s) for s in env.spec.get("pre_test") or []], f"echo '{START}'", f"{{ {command} ; }} 2>&1",
                 "rc=$?", f"echo '{END}'", f"echo '{EXIT_CODE}: '$rc"]
            )  # fmt: skip
            run = box.run_archive(tar_tree(tree, TESTBED), script, self.timeout, image, junit=False, limit=None)
        lines.append(f"$ {command}")
        if run.timed_out:
            lines.append(f"{TESTS_TIMEOUT} after {self.timeout:g} s")
        return "\n".join([*lines, normalise_names(run.stdout), run.stderr]) + "\n", missing


def _not_graded(iid: str, patch: str | None, why: str) -> dict[str, Any]:
    """The report of a prediction no test ran for: the official fields, unresolved, and why."""
    fields = {"patch_is_None": patch is None, "patch_exists": patch is not None}
    fields.update(patch_successfully_applied=False, resolved=False, graded=False, environment_failed=why)
    return {iid: fields}


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
    keys = ("key", "status", "python", "python_why", "uploaded_before", "image", "changes", "reason")
    return {k: fields[k] for k in keys if fields[k]}
