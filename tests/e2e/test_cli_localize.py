from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SHOP_ISSUE
from tests.support.cli_helpers import run_cli
from tests.support.gitrepo import git, make_repo

NO_DENSE = ("-o", "retrieval.dense=false")


def test_localize_no_llm_json(shop_repo: Path, tmp_path: Path) -> None:
    issue = tmp_path / "issue.md"
    issue.write_text(SHOP_ISSUE)
    out = run_cli("localize", "--repo", str(shop_repo), "--issue", f"@{issue}", "--no-llm", "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    loc = json.loads(out.stdout.strip().splitlines()[-1])
    assert [f["path"] for f in loc["files"][:2]] == ["shop/cart.py", "shop/pricing.py"]  # title's file, crash site
    assert loc["symbols"][0]["reasons"]
    # the time and memory of each step, in the order they began (history is read within the ranker's step)
    steps = {s["name"]: s for s in loc["steps"]}
    assert list(steps)[:2] == ["startup", "index"] and {"bm25", "signals", "embedding", "ranker"} <= set(steps)
    assert 0 < steps["index"]["counts"]["parsed"] <= steps["index"]["counts"]["files"]
    assert steps["index"]["counts"]["reused"] == 0  # an empty home: nothing cached
    assert all(s["seconds"] >= 0 and s["peak_mb"] > 30 for s in loc["steps"])
    assert steps["embedding"]["counts"]["files_embedded"] > 0 and steps["embedding"]["counts"]["texts_embedded"] > 0


def test_localize_text_output_with_scripted_model(shop_repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {"when": "# Candidate files", "answer": '{"files": ["shop/pricing.py"]}'},
                {
                    "when": "# Schematic maps",
                    "answer": '{"symbols": [{"path": "shop/pricing.py", "name": "apply_discount"}]}',
                },
            ]
        )
    )
    out = run_cli(
        "localize",
        "--repo",
        str(shop_repo),
        "--issue",
        SHOP_ISSUE,
        *NO_DENSE,
        "-o",
        f"model.name=scripted/{script}",
        home=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "  1. shop/pricing.py  [model: stage 2" in out.stdout
    assert "edit   shop/pricing.py:6-11 apply_discount" in out.stdout


def test_localize_without_model_or_issue_exits_2(shop_repo: Path, tmp_path: Path) -> None:
    no_model = run_cli("localize", "--repo", str(shop_repo), "--issue", "x", *NO_DENSE, home=tmp_path)
    assert no_model.returncode == 2 and "no model is configured" in no_model.stderr
    missing = run_cli("localize", "--repo", str(shop_repo), "--issue", "@/no/such/file", "--no-llm", home=tmp_path)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def _bench_repo(tmp_path: Path) -> tuple[Path, list[dict]]:
    repo = tmp_path / "repos" / "acme__shop"
    from tests.conftest import SHOP

    base = make_repo(repo, SHOP)
    (repo / "shop/pricing.py").write_text(
        (repo / "shop/pricing.py").read_text().replace("rate = DISCOUNTS[code]", "rate = DISCOUNTS.get(code, 0)")
    )
    patch = git(repo, "diff")
    git(repo, "checkout", "-q", "--", ".")
    good = {
        "instance_id": "acme__shop-1",
        "repo": "acme/shop",
        "base_commit": base,
        "problem_statement": SHOP_ISSUE,
        "patch": patch + "\n",
    }
    broken = {**good, "instance_id": "acme__shop-2", "repo": "acme/missing"}
    return repo, [good, broken]


def test_bench_localize_summary_resume_and_errors(tmp_path: Path) -> None:
    _, rows = _bench_repo(tmp_path)
    dataset = tmp_path / "dev.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out_file = tmp_path / "out.jsonl"
    args = (
        "bench",
        "localize",
        "--dataset",
        str(dataset),
        "--repos",
        str(tmp_path / "repos"),
        "--out",
        str(out_file),
        "--no-llm",
        *NO_DENSE,
    )
    first = run_cli(*args, home=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["instances"] == 2 and summary["errors"] == 1
    assert summary["file_recall@3"] == 1.0 and summary["symbol_recall@10"] == 1.0
    lines = [json.loads(x) for x in out_file.read_text().splitlines()]
    good = next(r for r in lines if r["instance_id"] == "acme__shop-1")
    assert good["gold_files"] == ["shop/pricing.py"]
    assert good["gold_symbols"] == ["shop/pricing.py::apply_discount"]
    assert len(good["ranked_files"]) >= 5 and all("::" in s for s in good["ranked_symbols"])
    bad = next(r for r in lines if r["instance_id"] == "acme__shop-2")
    assert "no git repository for acme/missing" in bad["error"]
    # A second run skips what is done; --force redoes it.
    again = run_cli(*args, home=tmp_path)
    assert json.loads(again.stdout.strip().splitlines()[-1]) == summary
    assert len(out_file.read_text().splitlines()) == 2
    forced = run_cli(*args, "--force", home=tmp_path)
    assert forced.returncode == 0 and len(out_file.read_text().splitlines()) == 2


def test_bench_bad_dataset_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instance_id": "x"}\n')
    out = run_cli(
        "bench",
        "localize",
        "--dataset",
        str(bad),
        "--repos",
        str(tmp_path),
        "--out",
        str(tmp_path / "o"),
        home=tmp_path,
    )
    assert out.returncode == 2 and "lacks repo, base_commit" in out.stderr


def test_bench_speed_times_cold_calls_and_warm_ones_each_in_its_own_process(shop_repo: Path, tmp_path: Path) -> None:
    """The benchmark's shape, never its figures: cold calls each in an empty home (their median reported),
    then warm calls, each a child process whose own peak memory is read, with the goals beside them."""
    args = ("--issue", SHOP_ISSUE, "--warm-runs", "2", "--cold-runs", "3")
    out = run_cli("bench", "speed", "--repo", str(shop_repo), *args, home=tmp_path)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert [c["exit_code"] for c in figures["calls"]] == [0] * 5 and figures["failed"] == 0
    assert all(c["peak_mb"] > 30 and c["seconds"] > 0 for c in figures["calls"])  # a Python process, measured
    colds = [c["seconds"] for c in figures["calls"][:3]]
    assert figures["cold_runs"] == colds and figures["cold_seconds"] == sorted(colds)[1]
    assert all(c["steps"]["index"]["counts"]["reused"] == 0 for c in figures["calls"][:3])  # each one cold
    assert figures["peak_mb"] == max(c["peak_mb"] for c in figures["calls"])
    assert set(figures["met"]) == set(figures["goals"]) == {"warm_seconds", "cold_seconds", "peak_mb"}
    # the breakdown of each call: cold parses and embeds, warm reuses both
    cold, warm = figures["cold_steps"], figures["warm_steps"]
    assert cold["index"]["counts"]["parsed"] > 0 and cold["index"]["counts"]["reused"] == 0
    assert warm["index"]["counts"]["parsed"] == 0 and warm["index"]["counts"]["reused"] > 0
    assert cold["embedding"]["counts"]["files_embedded"] > 0
    assert warm["embedding"]["counts"]["files_embedded"] == 0 and warm["embedding"]["counts"]["files_cached"] > 0
    assert not (tmp_path / "cache").exists()  # its calls never used the caller's home


def test_bench_speed_says_when_a_call_fails(shop_repo: Path, tmp_path: Path) -> None:
    args = ("bench", "speed", "--repo", str(shop_repo), "--rev", "no-such-commit", "--issue", "x", "--warm-runs", "1")
    out = run_cli(*args, home=tmp_path)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert out.returncode == 1 and figures["failed"] == 2 and not any(figures["met"].values())
    assert "a call failed (exit 2)" in out.stderr and "no-such-commit" in out.stderr
