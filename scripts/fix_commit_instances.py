"""SWE-bench-shaped instances made from public fix commits, to check local grading on the repositories SWE-bench Lite
and Verified are made of where their test splits cannot be read.

    python scripts/fix_commit_instances.py MIRRORS OUT.jsonl   (writes OUT.jsonl and OUT.repos.json)

MIRRORS holds bare mirrors laid out as ``<owner>+<name>/repo`` (django's history from the fork apprent1c3/django);
each instance takes a fix commit's parent as its base and environment commit (unless one is named), the commit's
diff of the code folders as the gold patch, its diff of the test folders as the test patch, and the tests it adds
or changes as FAIL_TO_PASS.  Then: ``repoagent swebench validate --dataset OUT.jsonl --repo-map OUT.repos.json --out
DIR``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

J = "template_tests.filter_tests.test_join"
AUTO = "model_fields.test_autofield.AutoFieldInheritanceTests"
# instance id (whose fix the commit is), repository, fix commit, version, FAIL_TO_PASS, PASS_TO_PASS, code, tests,
# and the environment commit where it is not the base
INSTANCES: list[tuple[str, str, str, str, list[str], list[str], list[str], list[str], str]] = [
    ("django__django-16873", "django/django", "a2da81fe083a9dbc37b8355c25fdc23e3b58d16f", "5.0",
     [f"test_autoescape_off ({J}.FunctionTests.test_autoescape_off)",
      f"test_join_autoescape_off ({J}.JoinTests.test_join_autoescape_off)"],
     [f"test_list ({J}.FunctionTests.test_list)", f"test_join01 ({J}.JoinTests.test_join01)"],
     ["django"], ["tests"], ""),
    ("django__django-14238", "django/django", "45a58c31e64dbfdecab1178b1d00a3803a90ea2d", "4.0",
     [f"test_issubclass_of_autofield ({AUTO})",
      "test_default_auto_field_setting_bigautofield_subclass (model_options.test_default_pk.TestDefaultPK)"],
     [f"test_isinstance_of_autofield ({AUTO})"], ["django"], ["tests"], ""),
    ("sphinx-doc__sphinx-8713", "sphinx-doc/sphinx", "73db152cf6", "4.0",
     ["tests/test_ext_napoleon_docstring.py::NumpyDocstringTest::test_parameters_with_class_reference"],
     ["tests/test_ext_napoleon_docstring.py::NumpyDocstringTest::test_docstrings"], ["sphinx"], ["tests"], ""),
    ("sympy__sympy-20590", "sympy/sympy", "a195147bd7", "1.7", ["test_immutable"],
     ["test_structure", "test_equality"], ["sympy/core/_print_helpers.py"], ["sympy/core/tests"], ""),
    ("astropy__astropy-12907", "astropy/astropy", "069729efbb", "4.3",
     ["astropy/modeling/tests/test_separable.py::test_separable[compound_model6-result6]"],
     ["astropy/modeling/tests/test_separable.py::test_coord_matrix"],
     ["astropy/modeling/separable.py"], ["astropy/modeling/tests"], ""),
    ("pallets__flask-4992", "pallets/flask", "b10b6d4a", "2.3", ["tests/test_config.py::test_config_from_file_toml"],
     ["tests/test_config.py::test_config_from_file_json"], ["src"], ["tests"], ""),
    ("pydata__xarray-4094", "pydata/xarray", "329cefb99", "0.12",
     ["xarray/tests/test_dataset.py::TestDataset::test_to_stacked_array_to_unstacked_dataset"],
     ["xarray/tests/test_dataset.py::TestDataset::test_to_stacked_array_name"], ["xarray/core"], ["xarray/tests"],
     "1c198a191127c601d091213c4b3292a8bb3054e1"),
    ("pytest-dev__pytest-5227", "pytest-dev/pytest", "7e08e0947", "4.4",
     ["testing/logging/test_reporting.py::test_log_cli_enabled_disabled[True]",
      "testing/logging/test_reporting.py::test_log_cli_default_level"],
     ["testing/logging/test_reporting.py::test_nothing_logged"], ["src"], ["testing"], ""),
    ("psf__requests-2317", "psf/requests", "29ef1081", "2.4",
     ["test_requests.py::RequestsTestCase::test_encoded_methods"],
     ["test_requests.py::RequestsTestCase::test_basic_building"], ["requests"], ["test_requests.py"], ""),
    ("pylint-dev__pylint-7080", "pylint-dev/pylint", "c74493bdb", "2.15",
     ["tests/test_self.py::TestRunTC::test_ignore_path_recursive_current_dir"],
     ["tests/test_self.py::TestRunTC::test_ignore_path_recursive"], ["pylint"], ["tests"], ""),
    ("mwaskom__seaborn-3190", "mwaskom/seaborn", "72710354", "0.12",
     ["tests/_core/test_scales.py::TestContinuous::test_interval_with_bools"],
     ["tests/_core/test_scales.py::TestContinuous::test_coordinate_defaults"], ["seaborn"], ["tests"], ""),
]  # fmt: skip
MIRROR_OF = {"django/django": "apprent1c3+django"}


def git(mirror: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(mirror), *args], capture_output=True, text=True, check=True).stdout


def main(mirrors: Path, out: Path) -> None:
    rows, mirror_of = [], {}
    for iid, repo, fix, version, f2p, p2p, code, tests, env_commit in INSTANCES:
        mirror = mirrors / MIRROR_OF.get(repo, repo.replace("/", "+")) / "repo"
        if not mirror.is_dir():
            print(f"{iid}: no mirror at {mirror}; left out", file=sys.stderr)
            continue
        mirror_of[repo] = str(mirror.resolve())
        fix = git(mirror, "rev-parse", fix).strip()
        base = git(mirror, "rev-parse", f"{fix}^").strip()
        rows.append({
            "instance_id": iid, "repo": repo, "base_commit": base, "version": version,
            "environment_setup_commit": env_commit or base, "problem_statement": iid,
            "patch": git(mirror, "diff", base, fix, "--", *code),
            "test_patch": git(mirror, "diff", base, fix, "--", *tests),
            "FAIL_TO_PASS": json.dumps(f2p), "PASS_TO_PASS": json.dumps(p2p),
        })  # fmt: skip
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out.with_suffix(".repos.json").write_text(json.dumps(mirror_of, indent=1) + "\n")
    print(f"{len(rows)} instances in {out}, their mirrors in {out.with_suffix('.repos.json')}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
