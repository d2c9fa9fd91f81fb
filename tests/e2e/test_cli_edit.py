from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SHOP, SHOP_ISSUE
from tests.support.cli_helpers import run_cli
from tests.support.gitrepo import git, make_repo

NEW = "def apply_discount(amount, code):\n    rate = DISCOUNTS.get(code, 0)\n    return round(amount * (1 - rate), 2)\n"


def test_edit_prints_a_diff_git_applies_then_writes(shop_repo: Path, tmp_path: Path) -> None:
    code = tmp_path / "new.py"
    code.write_text(NEW)
    args = (
        "edit",
        "--repo",
        str(shop_repo),
        "--file",
        "shop/pricing.py",
        "--symbol",
        "apply_discount",
        "--code",
        f"@{code}",
    )
    out = run_cli(*args, home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "+    rate = DISCOUNTS.get(code, 0)" in out.stdout
    patch = tmp_path / "p.diff"
    patch.write_text(out.stdout)
    git(shop_repo, "apply", "--check", str(patch))
    assert git(shop_repo, "status", "--porcelain") == ""  # printing a diff touches nothing
    wrote = run_cli(*args, "--write", home=tmp_path)
    assert wrote.returncode == 0 and "DISCOUNTS.get(code, 0)" in (shop_repo / "shop/pricing.py").read_text()


def test_edit_refusals(shop_repo: Path, tmp_path: Path) -> None:
    base = ("edit", "--repo", str(shop_repo), "--file", "shop/pricing.py")
    broken = run_cli(*base, "--symbol", "apply_discount", "--code", "def apply_discount(:\n  pass\n", home=tmp_path)
    assert broken.returncode == 1 and "syntax check failed in shop/pricing.py" in broken.stderr
    missing = run_cli(*base, "--symbol", "apply_discont", "--code", NEW, home=tmp_path)
    assert missing.returncode == 1 and "did you mean apply_discount" in missing.stderr
    both = run_cli(*base, "--symbol", "a", "--insert-after", "b", "--code", "x", home=tmp_path)
    assert both.returncode == 2 and "exactly one of" in both.stderr
    block = run_cli(*base, "--module-block", "3", "--code", 'DISCOUNTS = {"SAVE10": 0.1}\n', home=tmp_path)
    assert block.returncode == 0 and '+DISCOUNTS = {"SAVE10": 0.1}' in block.stdout


def test_bench_edit_on_a_built_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repos" / "acme__shop"
    base = make_repo(repo, SHOP)
    pricing = repo / "shop/pricing.py"
    pricing.write_text(
        pricing.read_text().replace("DISCOUNTS[code]", "DISCOUNTS.get(code, 0)")
        + "\n\ndef cents(amount):\n    return int(amount * 100)\n"
    )
    patch = git(repo, "diff") + "\n"
    git(repo, "checkout", "-q", "--", ".")
    dataset = tmp_path / "d.json"
    dataset.write_text(
        json.dumps(
            [
                {
                    "instance_id": "acme__shop-1",
                    "repo": "acme/shop",
                    "base_commit": base,
                    "problem_statement": SHOP_ISSUE,
                    "patch": patch,
                }
            ]
        )
    )
    out = run_cli(
        "bench",
        "edit",
        "--dataset",
        str(dataset),
        "--repos",
        str(tmp_path / "repos"),
        "--out",
        str(tmp_path / "o.jsonl"),
        home=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["instances"] == 1 and summary["exact"] == 1.0 and summary["ast_equal"] == 1.0
    row = json.loads((tmp_path / "o.jsonl").read_text())
    assert "replace shop/pricing.py::apply_discount" in row["ops"]
