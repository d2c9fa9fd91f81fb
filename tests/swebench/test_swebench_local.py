"""Local grading: environments from install specs, built in real Docker, graded by the official swebench code."""

from __future__ import annotations

import json
from pathlib import Path

from swebench_runner.envs.specs import (
    WHEELS_FROM,
    debian_python,
    directives_of,
    eval_script,
    instance_test_command,
    make_env_spec,
    make_eval_spec,
    uploaded_before,
)
from swebench_runner.grading.local import expected_ids, network_evidence, normalise_names, report_from_log
from swebench_runner.grading.runs import validation_figures
from tests.support.cli_helpers import run_cli
from tests.support.fix_fixtures import script
from tests.support.sandbox_fixtures import require_docker
from tests.support.swebench_fixtures import fix_row, make_dataset, read_jsonl, validate_rows

SPEC = {"python": "3.11", "pip_packages": ["pytest"], "test_cmd": "python -m pytest -rA"}
IDS = ["demo__calc-1", "demo__calc-2", "demo__words-1"]


def _specs(folder: Path, calc: dict | None = None) -> Path:
    path = folder / "specs.json"
    path.write_text(json.dumps({"demo/calc": {"1.0": calc or SPEC}, "demo/words": {"1.0": SPEC}}))
    return path


def test_the_python_is_the_nearest_not_older_within_the_projects_bounds() -> None:
    assert debian_python("3.9")[0] == "3.9"
    assert debian_python("3.6")[0] == "3.9"  # no 3.6 here: the nearest newer
    assert debian_python("3.10")[0] == "3.11"  # never older than asked: 3.10 syntax would not parse on 3.9
    assert debian_python("3.12")[0] == "3.13"
    assert debian_python("3.9", ">=3.10")[0] == "3.11"  # the project's own floor wins
    python, why = debian_python("3.14", "<3.12")
    assert python == "3.11" and "older than asked" in why


def test_directives_and_the_test_command_are_the_official_ones() -> None:
    patch = (
        "diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n"
        "diff --git a/tests/data/x.json b/tests/data/x.json\n"
        "diff --git a/tests/model_fields/test_b.py b/tests/model_fields/test_b.py\n"
    )
    assert directives_of(patch, "demo/x") == ["tests/test_a.py", "tests/model_fields/test_b.py"]
    assert directives_of(patch, "django/django") == ["test_a", "model_fields.test_b"]
    row = {"repo": "demo/x", "test_patch": patch}
    wanted = "pytest -rA tests/test_a.py tests/model_fields/test_b.py"
    assert instance_test_command({"test_cmd": "pytest -rA"}, row) == wanted
    # a dataset row with its own eval script (swebench 5's datasets): its command, as written
    script = "git apply -v - <<'EOF'\n...\nEOF\n: '>>>>> Start Test Output'\npytest -rA t/x_test.py\n"
    script += ": '>>>>> End Test Output'\n"
    assert instance_test_command({"test_cmd": "pytest"}, {**row, "eval_script": script}) == "pytest -rA t/x_test.py"


def test_the_eval_script_is_the_spec_pre_test_steps_then_the_command_between_the_official_markers() -> None:
    assert eval_script({"pre_test": ["export X=1"]}, "pytest -rA t.py").splitlines() == [
        "export X=1", "echo '>>>>> Start Test Output'", "{ pytest -rA t.py ; } 2>&1", "rc=$?",
        "echo '>>>>> End Test Output'", "echo '>>>>> Test Exit Code: '$rc",
    ]  # fmt: skip
    assert eval_script({}, "tox -e py").splitlines()[0] == "echo '>>>>> Start Test Output'"


def test_the_eval_spec_and_the_report_from_a_log_are_pure() -> None:
    """make_eval_spec: the official command, the test files, the parser; report_from_log: the official verdict of a
    log as text, nothing run and nothing written where the caller can see it."""
    patch = "diff --git a/tests/test_ops.py b/tests/test_ops.py\n--- a/tests/test_ops.py\n+++ b/tests/test_ops.py\n"
    row = {
        "instance_id": "demo__calc-1", "repo": "demo/calc", "version": "1.0", "test_patch": patch,
        "FAIL_TO_PASS": '["tests/test_ops.py::test_mul"]', "PASS_TO_PASS": '["tests/test_ops.py::test_add"]',
    }  # fmt: skip
    grading = make_eval_spec({"test_cmd": "pytest -rA", "pre_test": ["export X=1"]}, row)
    assert (grading.test_command, grading.test_files) == ("pytest -rA tests/test_ops.py", ["tests/test_ops.py"])
    assert grading.parser == "parse_log_pytest" and grading.script().splitlines()[0] == "export X=1"

    def log(mul: str) -> str:  # noqa: E306
        lines = [f"{mul} tests/test_ops.py::test_mul", "PASSED tests/test_ops.py::test_add"]
        return "\n".join([">>>>> Start Test Output", *lines, ">>>>> End Test Output", ">>>>> Test Exit Code: 0"])

    fixed = report_from_log(row, "diff", log("PASSED"), grading.parser)["demo__calc-1"]
    assert fixed["resolved"] and fixed["tests_status"]["FAIL_TO_PASS"]["success"] == ["tests/test_ops.py::test_mul"]
    broken = report_from_log(row, "diff", log("FAILED"), grading.parser)["demo__calc-1"]
    assert not broken["resolved"] and broken["tests_status"]["PASS_TO_PASS"]["success"] == [
        "tests/test_ops.py::test_add"
    ]
    assert report_from_log(row, None, log("PASSED"), grading.parser)["demo__calc-1"]["patch_is_None"]


def test_python_311_unittest_names_are_normalised_for_the_official_parsers() -> None:
    log = "test_x (app.tests.ThingTests.test_x) ... ok\ntest_y (app.tests.ThingTests) ... FAIL\n"
    assert normalise_names(log) == "test_x (app.tests.ThingTests) ... ok\ntest_y (app.tests.ThingTests) ... FAIL\n"


def test_expected_test_ids_are_written_as_the_log_parser_writes_them() -> None:
    """Another machine's checkout path becomes /testbed's; a parser that shortens a path parameter (pydicom's)
    shortens the expected id alike; unittest ids and plain parameters stay."""
    foreign = "t.py::test[/n/fs/p-swe-bench/temp/tmp1/pydicom__pydicom__1.2/data/a.dcm-data0]"
    plain = ["t.py::test[/tmp/x/a.dcm]", "t.py::test[1-2]", "test_x (mod.Class)"]
    assert expected_ids([foreign, *plain], "parse_log_pytest") == ["t.py::test[/testbed/data/a.dcm-data0]", *plain]
    assert expected_ids([foreign, *plain], "parse_log_pytest_options") == [
        "t.py::test[/a.dcm-data0]", "t.py::test[/a.dcm]", "t.py::test[1-2]", "test_x (mod.Class)"
    ]  # fmt: skip


def test_network_evidence_is_read_from_the_tests_output_only() -> None:
    log = "pip: Temporary failure in name resolution\n>>>>> Start Test Output\nok\nE   socket.gaierror: [Errno -3]\n"
    assert network_evidence(log) == ["E   socket.gaierror: [Errno -3]"]
    assert network_evidence(">>>>> Start Test Output\nFAILED t.py::test_x - AssertionError\n") == []


def test_an_environment_is_named_by_repository_version_and_everything_that_went_in() -> None:
    a = make_env_spec("org/pkg", "0.8", {"python": "3.9", "pip_packages": ["pytest"]})
    b = make_env_spec("org/pkg", "0.8", {"python": "3.9", "pip_packages": ["pytest==7.4.0"]})
    assert a.key.startswith("org__pkg-0.8-") and a.key != b.key
    assert a.key == make_env_spec("org/pkg", "0.8", {"python": "3.9", "pip_packages": ["pytest"]}).key
    assert a.release == "0.8.0" and "git tag v0.8.0" in a.script()  # versioneer and setuptools-scm read it
    assert "rm -rf /testbed" in a.script()  # the image keeps the dependencies, never a version of the code
    flit = make_env_spec("org/pkg", "1.0", {"python": "3.9"}, '[build-system]\nrequires = ["flit_core>=3"]\n')
    assert "flit_core>=3" in flit.script()  # the build backend, so the offline editable install works
    conda = make_env_spec("org/pkg", "1.0", {"python": "3.9", "packages": "environment.yml"})
    assert "conda" in (conda.unsupported() or "")


def test_packages_are_taken_as_of_the_environment_commit_but_not_before_wheels_for_its_python() -> None:
    assert uploaded_before("2023-07-04T10:00:00+02:00", "3.9") == "2023-07-04T00:00:00Z"
    # no cp39 wheels in 2018: not before they were common (numba, among the last, from 2021-03-11)
    assert uploaded_before("2018-06-01T10:00:00+00:00", "3.9") == f"{WHEELS_FROM['3.9']}T00:00:00Z"
    assert WHEELS_FROM["3.9"] > "2021-03-11" and WHEELS_FROM["3.11"] > "2023-05-03"  # numba 0.53 and 0.57
    assert uploaded_before("2018-06-01T10:00:00+00:00", "3.11") == f"{WHEELS_FROM['3.11']}T00:00:00Z"
    assert uploaded_before("", "3.9") == ""  # a date unknown: today's packages
    env = make_env_spec("org/pkg", "0.8", {"python": "3.9"}, committed="2022-05-01T12:00:00Z")
    assert env.plan("pytest").env["PIP_UPLOADED_PRIOR_TO"] == "2022-05-01T00:00:00Z"
    later = make_env_spec("org/pkg", "0.8", {"python": "3.9"}, committed="2022-06-01T12:00:00Z")
    assert later.key != env.key  # the date is part of what went in


def test_requirement_files_are_read_as_the_official_harness_reads_them(tmp_path: Path) -> None:
    from swebench_runner.envs.pins_helper import nearest, requirement_lines

    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "base.txt").write_text("numpy<1.26  # core\n--index-url https://example.invalid\n")
    (tmp_path / "reqs" / "test.txt").write_text("-r base.txt\n-e .\n.[test]\n\n# tools\npytest==7.4.0\n")
    assert requirement_lines(str(tmp_path / "reqs" / "test.txt")) == ["numpy<1.26", "pytest==7.4.0"]
    # the nearest release: the first at or above the pin, then downwards
    assert nearest("1.19.2", ["1.18.5", "1.19.0", "1.21.0", "1.20.1", "2.0"]) == [
        "1.20.1", "1.21.0", "2.0", "1.19.0", "1.18.5"
    ]  # fmt: skip


def test_a_spec_of_requirements_takes_the_first_of_the_repositorys_files() -> None:
    spec = {"python": "3.9", "packages": "requirements.txt", "requirements_paths": ["req_test.txt", "requirements.txt"]}
    script = make_env_spec("org/pkg", "1.0", spec).script()
    assert script.index("-r req_test.txt") < script.index("-r requirements.txt")
    assert "if [ -f req_test.txt ]; then" in script and "elif [ -f requirements.txt ]; then" in script


def test_validation_figures_name_every_instance_that_breaks_the_rule() -> None:
    rows = [
        {"instance_id": "a-1", "repo": "a", "environment": "built", "gold": "resolved", "empty": "unresolved"},
        {"instance_id": "a-2", "repo": "a", "environment": "built", "gold": "unresolved", "empty": "unresolved"},
        {
            "instance_id": "a-3",
            "repo": "a",
            "environment": "built",
            "gold": "unresolved",
            "empty": "unresolved",
            "missing_files_used": ["data/big.csv"],
        },  # fmt: skip
        {"instance_id": "b-1", "repo": "b", "environment": "failed", "environment_reason": "no wheel"},
        {"instance_id": "b-2", "repo": "b", "environment": "built", "gold": "resolved", "empty": "resolved"},
    ]
    rows.append({"instance_id": "a-4", "repo": "a", "environment": "built", "gold": "unresolved",
                 "empty": "unresolved", "network_wanted": ["socket.gaierror"]})  # fmt: skip
    f = validation_figures(rows)
    a = f["repositories"]["a"]
    assert a["gold_resolved"] == 1 and a["gold_failed"] == ["a-2", "a-3", "a-4"]
    assert a["gold_failed_incomplete_copy"] == ["a-3"]  # its tests wanted a file not there
    assert a["gold_failed_network"] == ["a-4"]  # and this one the network
    assert (a["gold_resolved_share"], a["gold_resolved_share_unmarked"]) == (0.25, 0.5)  # of 4; of the 2 unmarked
    assert f["repositories"]["b"]["environments_built"] == 1 and f["repositories"]["b"]["empty_passed"] == ["b-2"]
    assert f["total"]["environments_built_share"] == round(5 / 6, 4) and f["total"]["not_built"] == ["b-1: no wheel"]


def _why_unresolved(out: Path, stderr: str) -> str:
    """What a run and its grading said of each instance: the run's status and error, the report's fields and
    the end of the test output (a failure of the end-to-end test shows its cause)."""
    said = [f"stderr (end): {stderr[-3000:]}"]
    for row in read_jsonl(out / "outcomes.jsonl"):
        said.append(f"run {row['instance_id']}: {row['status']} {row.get('error', '')} patch={bool(row.get('patch'))}")
    for folder in sorted((out / "logs/run_evaluation").glob("*/*/*")):
        report = json.loads((folder / "report.json").read_text()) if (folder / "report.json").exists() else {}
        fields = {k: v for r in report.values() for k, v in r.items() if k not in ("tests_status", "environment")}
        log = (folder / "test_output.txt").read_text()[-2000:] if (folder / "test_output.txt").exists() else ""
        said.append(f"graded {folder.name}: {fields}\n{log}")
    return "\n".join(said)


def test_oracle_run_then_local_grading_end_to_end(tmp_path: Path) -> None:
    """``run --model oracle`` then ``evaluate --grader local``: every gold patch resolved, reports where the
    official grader writes them, and the summary says local grading; the empty patch is not resolved."""
    require_docker()
    repos, dataset, _ = make_dataset(tmp_path / "data")
    specs, home, out = _specs(tmp_path), tmp_path / "home", tmp_path / "out"
    run = ["swebench", "run", "--dataset", str(dataset), "--repos", str(repos), "--out", str(out)]
    assert run_cli(*run, "--model", "oracle", "--sandbox", "none", home=home, timeout=600).returncode == 0
    grade = ["swebench", "evaluate", "--predictions", str(out / "predictions.jsonl"), "--dataset", str(dataset)]
    grade += ["--grader", "local", "--specs", str(specs), "--repos", str(repos), "--run-id", "r1", "--workers", "2"]
    proc = run_cli(*grade, home=home, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["resolved"] == 3, _why_unresolved(out, proc.stderr)
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["grader"].startswith("local grading")
    assert {i: v["resolved"] for i, v in evaluation["instances"].items()} == dict.fromkeys(IDS, True)
    report = json.loads((out / "logs/run_evaluation/r1/oracle/demo__calc-1/report.json").read_text())["demo__calc-1"]
    assert report["tests_status"]["FAIL_TO_PASS"]["success"] == ["tests/test_ops.py::test_mul"]
    assert report["grader"] == "local" and report["environment"]["python"] == "3.11"
    log = (out / "logs/run_evaluation/r1/oracle/demo__calc-1/test_output.txt").read_text()
    assert ">>>>> Start Test Output" in log and ">>>>> Test Exit Code: 0" in log
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grading"].startswith("local grading") and summary["total"]["resolved"] == 3
    assert "local grading" in (out / "summary.html").read_text()
    # the same grader on empty predictions: nothing resolved, and the images are reused, not rebuilt
    empty = tmp_path / "empty" / "predictions.jsonl"
    empty.parent.mkdir()
    rows = read_jsonl(out / "predictions.jsonl")
    empty.write_text("".join(json.dumps({**p, "model_patch": ""}) + "\n" for p in rows))
    grade[grade.index("--predictions") + 1] = str(empty)
    proc = run_cli(*grade, home=home, timeout=900)
    assert proc.returncode == 0, proc.stderr
    evaluation = json.loads((empty.parent / "evaluation.json").read_text())
    assert not any(v["resolved"] for v in evaluation["instances"].values())
    assert all(v["graded"] for v in evaluation["instances"].values())


def test_a_pin_that_cannot_install_moves_to_the_nearest_wheel_and_one_that_never_installs_fails_the_environment(
    tmp_path: Path,
) -> None:
    require_docker()
    repos, dataset, _ = make_dataset(tmp_path / "data")
    # six 1.16.99: no such release, the nearest with a wheel; types-pkg_resources: every release yanked since
    calc = {**SPEC, "pip_packages": ["pytest", "six==1.16.99", "types-pkg_resources"]}
    specs, home, out = _specs(tmp_path, calc), tmp_path / "home", tmp_path / "v"
    args = ["swebench", "validate", "--dataset", str(dataset), "--repos", str(repos), "--specs", str(specs)]
    proc = run_cli(*args, "--out", str(out), "--instances", "demo__calc-1,demo__words-1", home=home, timeout=900)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads((out / "validation.json").read_text())["total"]
    assert (figures["environments_built"], figures["gold_resolved"], figures["empty_unresolved"]) == (2, 2, 2)
    (record,) = [json.loads(p.read_text()) for p in (home / "cache/swebench/environments").glob("demo__calc-*.json")]
    changes = {c["requirement"]: c for c in record["changes"]}
    assert set(changes) == {"six==1.16.99", "types-pkg_resources"}
    six = changes["six==1.16.99"]
    assert six["installed"].startswith("six==1.") and "1.16.99" not in six["installed"] and six["why"]
    assert changes["types-pkg_resources"]["installed"].startswith("types-pkg_resources==")
    assert "yanked" in changes["types-pkg_resources"]["why"]
    # a requirement that installs in no way: the environment fails with the reason, and nothing is graded in it
    broken = _specs(tmp_path, {**SPEC, "pip_packages": ["pytest", "repoagent-no-such-package-zz==1.0"]})
    out2 = tmp_path / "v2"
    args[args.index("--specs") + 1] = str(broken)
    proc = run_cli(*args, "--out", str(out2), "--instances", "demo__calc-1", home=home, timeout=900)
    assert proc.returncode == 0, proc.stderr
    (row,) = read_jsonl(out2 / "validation.jsonl")
    assert row["environment"] == "failed" and "gold" not in row
    assert "repoagent-no-such-package-zz" in row["environment_reason"]
    (report,) = (out2 / "logs/run_evaluation/validate/gold").glob("*/report.json")
    verdict = json.loads(report.read_text())["demo__calc-1"]
    assert verdict["graded"] is False and verdict["resolved"] is False


def test_a_batch_runs_its_tests_in_the_environment_of_the_official_spec_and_never_shows_the_hidden_tests(
    tmp_path: Path,
) -> None:
    require_docker()
    repos, dataset, _ = make_dataset(tmp_path / "data")
    answers = [
        {"when": "# Candidate files", "answer": '{"files": ["calc/ops.py"]}'},
        {"when": "# Schematic maps", "answer": '{"symbols": [{"path": "calc/ops.py", "name": "mul"}]}'},
        "### REPLACE calc/ops.py::mul\n```python\ndef mul(a, b):\n    return a * b\n```",
    ]
    out = tmp_path / "out"
    args = ["swebench", "run", "--dataset", str(dataset), "--repos", str(repos), "--out", str(out)]
    args += ["--model", script(tmp_path, answers), "--sandbox", "docker", "--instances", "demo__calc-1"]
    proc = run_cli(*args, "-o", f"swebench.specs={_specs(tmp_path)}", home=tmp_path / "home", timeout=900)
    assert proc.returncode == 0, proc.stderr
    (row,) = read_jsonl(out / "outcomes.jsonl")
    assert row["environment"]["kind"] == "local-spec" and row["environment"]["python"] == "3.11", row
    assert row["environment"]["image"].startswith("repoagent-env:demo__calc-1.0-")
    assert row["sandbox"] == "docker" and "return a * b" in row["patch"]
    (run_dir,) = (out / "instances" / "demo__calc-1").iterdir()
    everything = "\n".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())
    assert "test_mul" not in everything  # the test patch reached neither a prompt nor the environment
    assert "test_add" in everything  # the repository's own tests ran there


def _pyproject(deps: list[str]) -> str:
    return (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "calc"\nversion = "1.0"\ndependencies = {json.dumps(deps)}\n'
    )


def test_the_project_installs_at_the_instances_own_commit_over_the_environment(tmp_path: Path) -> None:
    """The official harness installs each instance at its base commit: a dependency the environment commit
    dropped (six here) is there for the instance whose own pyproject asks for it."""
    require_docker()
    from tests.support.gitrepo import make_repo

    repo = tmp_path / "repos" / "demo__calc"
    code = "import six\n\n\ndef mul(a, b):\n    return a + b\n"
    test = "from calc.ops import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n"
    base = make_repo(repo, {"pyproject.toml": _pyproject(["six"]), "calc/__init__.py": "", "calc/ops.py": code})
    fixed = make_repo(repo, {"calc/ops.py": code.replace("a + b", "a * b"), "tests/test_ops.py": test}, "fix")
    later = {"pyproject.toml": _pyproject([]), "calc/ops.py": "def mul(a, b):\n    return a * b\n"}
    env_commit = make_repo(repo, later, "drop six")
    row = fix_row(
        repo, "demo__calc-9", base, fixed, ["tests/test_ops.py::test_mul"], environment_setup_commit=env_commit
    )
    out = validate_rows(tmp_path, [row], {**SPEC, "install": "python -m pip install -e ."})
    (result,) = read_jsonl(out / "validation.jsonl")
    assert (result["gold"], result["empty"]) == ("resolved", "unresolved"), result
    log = (out / "logs/run_evaluation/validate/gold/demo__calc-9/test_output.txt").read_text()
    assert f"installed at {base[:12]} over the environment" in log


def test_a_test_id_with_the_dataset_machines_path_is_graded_and_a_test_that_wants_the_network_is_marked(
    tmp_path: Path,
) -> None:
    """Two gold misses that are not the patch's: a test id parametrised by the checkout path of the machine
    that made the dataset (pytest here prints /testbed), graded as /testbed's; and a test that downloads, with
    no network: unresolved, its report says the test wanted the network, the figures list it apart."""
    require_docker()
    from tests.support.gitrepo import make_repo

    repo = tmp_path / "repos" / "demo__calc"
    code = {"calc/__init__.py": "", "calc/ops.py": "def mul(a, b):\n    return a + b\n"}
    base = make_repo(repo, {"pyproject.toml": _pyproject([]), **code})
    by_path = (
        "import pathlib\n\nimport pytest\n\nfrom calc.ops import mul\n\n\n"
        "@pytest.mark.parametrize('path', [str(pathlib.Path(__file__).parent / 'six.txt')])\n"
        "def test_mul(path):\n    assert mul(2, 3) == int(pathlib.Path(path).read_text())\n"
    )
    fixed = make_repo(repo, {"calc/ops.py": "def mul(a, b):\n    return a * b\n", "tests/six.txt": "6\n",
                             "tests/test_ops.py": by_path}, "fix")  # fmt: skip
    download = "import urllib.request\n\n\ndef test_data():\n    urllib.request.urlopen('http://data.invalid/a.csv')\n"
    later = make_repo(repo, {"calc/ops.py": "def mul(a, b):\n    return a * b  # the same\n",
                             "tests/test_data.py": download}, "a test that downloads")  # fmt: skip
    foreign = "/n/fs/p-swe-bench/temp/tmpqcg17m39/demo__calc__1.0/tests/six.txt"
    rows = [
        fix_row(repo, "demo__calc-1", base, fixed, [f"tests/test_ops.py::test_mul[{foreign}]"]),
        fix_row(repo, "demo__calc-2", fixed, later, ["tests/test_data.py::test_data"]),
    ]
    out = validate_rows(tmp_path, rows, {**SPEC, "install": "python -m pip install -e ."})
    results = {r["instance_id"]: r for r in read_jsonl(out / "validation.jsonl")}
    assert (results["demo__calc-1"]["gold"], results["demo__calc-1"]["empty"]) == ("resolved", "unresolved")
    report = json.loads((out / "logs/run_evaluation/validate/gold/demo__calc-1/report.json").read_text())
    assert report["demo__calc-1"]["tests_renamed"] == 1
    assert results["demo__calc-2"]["gold"] == "unresolved"
    assert any("name resolution" in line for line in results["demo__calc-2"]["network_wanted"]), results
    figures = json.loads((out / "validation.json").read_text())["total"]
    assert figures["gold_failed_network"] == ["demo__calc-2"] and figures["gold_resolved_share_unmarked"] == 1.0
