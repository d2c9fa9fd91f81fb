"""The learned ranker: features of a retrieval, training from a mined history, the models in use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.errors import RetrievalError
from retrieval.features import ABSENT, FILE_FEATURES, SYMBOL_FEATURES, FileRows
from retrieval.index import RepoIndex
from retrieval.ranker import SPREAD_FREE, SPREAD_HEAD, UNSURE_BELOW, load_ranker, ranker_for, spread
from retrieval.retriever import RankedFile, Retriever
from retrieval.source import RepoSource
from retrieval.trees import Tree, TreeModel
from tests.support.cli_helpers import run_cli
from tests.support.gitrepo import make_repo

DOMAINS = ["invoice", "shipping", "inventory", "customer", "payment", "discount", "report", "tax"]
NO_DENSE = ("-o", "retrieval.dense=false")


def _module(domain: str, version: int = 0) -> str:
    cls = domain.capitalize() + "Book"
    return (
        f'"""The {domain} ledger."""\n\n\n'
        f"class {cls}:\n"
        f"    def __init__(self, {domain}_rows):\n        self.rows = {domain}_rows\n\n"
        f"    def add_{domain}(self, row):\n        self.rows.append(row)\n\n"
        f"    def drop_{domain}(self, row):\n        self.rows.remove(row)\n\n\n"
        f"def total_{domain}(rows):\n"
        f"    return sum(r.amount for r in rows) + {version} if count_{domain}(rows) else 0\n\n\n"
        f"def count_{domain}(rows):\n    return len(rows)\n"
    )


def _history(repo: Path) -> None:
    """Eight modules, then sixteen fixes of one function each, their messages naming the function's words."""
    make_repo(repo, {f"ledger/{d}.py": _module(d) for d in DOMAINS} | {"tests/test_ledger.py": "X = 1\n"})
    for i in range(16):
        d = DOMAINS[i % len(DOMAINS)]
        message = (
            f"Fix a wrong {d} total when the {d} rows are empty\n\n"
            f"total_{d}() returned a wrong sum of {d} amounts for an empty {d} ledger (bug {i})."
        )
        make_repo(repo, {f"ledger/{d}.py": _module(d, i + 1)}, message)


def _as_repository(rows: Path, out: Path, name: str) -> Path:
    """A copy of a folder of `bench features` rows whose instances belong to repository ``name``."""
    out.mkdir()
    lines = []
    for line in (rows / "rows.jsonl").read_text().splitlines():
        row = json.loads(line)
        old = row["instance_id"]
        row["instance_id"] = name + "-" + old.rsplit("-", 1)[1]
        (out / f"{row['instance_id']}.npz").write_bytes((rows / f"{old}.npz").read_bytes())
        lines.append(json.dumps(row))
    (out / "rows.jsonl").write_text("\n".join(lines) + "\n")
    return out


def _ledger_index(tmp_path: Path) -> RepoIndex:
    repo = tmp_path / "ledger"
    _history(repo)
    return RepoIndex.build(RepoSource(repo, "HEAD"))


def _crash_in_count_tax(title: str) -> str:
    """An issue whose traceback ends in ``count_tax`` (line 20 of ledger/tax.py)."""
    frame = '  File "/site-packages/ledger/tax.py", line 20, in count_tax\n'
    return f"{title}\n\nTraceback (most recent call last):\n{frame}ValueError: boom\n"


def test_features_of_a_retrieval_name_their_evidence(tmp_path: Path) -> None:
    index = _ledger_index(tmp_path)
    issue = _crash_in_count_tax("count_tax is wrong for TaxBook in total_tax")
    result = Retriever(index).retrieve(issue, keep_features=True)
    assert result.features is not None
    files, symbols = result.features.files, result.features.symbols
    assert files.x.shape == (len(files.paths), len(FILE_FEATURES)) and "ledger/tax.py" in files.paths
    tax = files.x[files.paths.index("ledger/tax.py")]
    col = {name: i for i, name in enumerate(FILE_FEATURES)}
    assert tax[col["frame_rank"]] == 1 and tax[col["path_rank"]] == 1 and tax[col["stem_in_issue"]] == 1
    assert tax[col["dense_rank"]] == ABSENT and tax[col["dense_score"]] == 0  # no dense list without an embedder
    assert tax[col["issue_frames"]] == 1 and tax[col["rrf_rank"]] == 1
    assert symbols.x.shape == (len(symbols.keys), len(SYMBOL_FEATURES))
    scol = {name: i for i, name in enumerate(SYMBOL_FEATURES)}
    names = [k.rsplit("#", 1)[0] for k in symbols.keys]
    count = symbols.x[names.index("ledger/tax.py::count_tax")]
    assert count[scol["frame_named"]] == 1 and count[scol["name_in_issue"]] == 1
    assert count[scol["frame_line_inside"]] == 1 and count[scol["frame_line_innermost"]] == 1
    assert count[scol["file_rank"]] == 1 and count[scol["kind"]] == 1  # a function
    assert count[scol["called_by_named"]] == 1  # total_tax, named in the issue, calls it
    assert symbols.x[names.index("ledger/tax.py::total_tax")][scol["called_by_named"]] == 0
    book = symbols.x[names.index("ledger/tax.py::TaxBook")]
    assert book[scol["is_class"]] == 1 and book[scol["methods"]] == 3 and book[scol["frame_line_inside"]] == 0
    add = symbols.x[names.index("ledger/tax.py::TaxBook.add_tax")]
    assert add[scol["class_in_issue"]] == 1 and add[scol["nesting"]] == 1 and add[scol["name_in_issue"]] == 0
    # without keep_features and without a ranker, no rows are made
    assert Retriever(index).retrieve(issue).features is None


def test_mine_features_train_and_rank_with_the_models(tmp_path: Path) -> None:
    repo = tmp_path / "ledger"
    _history(repo)
    mined = tmp_path / "mined.jsonl"
    proc = run_cli("bench", "mine", "--repo", str(repo), "--name", "acme/ledger", "--out", str(mined), home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["kept"] == 16
    repo_map = tmp_path / "map.json"
    repo_map.write_text(json.dumps({"acme/ledger": str(repo)}))
    where = ("--dataset", str(mined), "--repo-map", str(repo_map))

    rows = tmp_path / "rows"
    proc = run_cli("bench", "features", *where, "--out", str(rows), *NO_DENSE, home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["instances"] == 16 and summary["errors"] == 0
    assert len(list(rows.glob("*.npz"))) == 16 and len((rows / "rows.jsonl").read_text().splitlines()) == 16
    # the mined pairs have their history, but the first fix, whose parent is the first commit (not counted)
    no_history = []
    for path in sorted(rows.glob("*.npz")):
        with np.load(path, allow_pickle=True) as data:
            changes = data["file_x"][:, FILE_FEATURES.index("changes_1000_rel")]
        assert np.isnan(changes).all() or not np.isnan(changes).any()
        no_history += [path.stem] if np.isnan(changes).all() else []
    first_fix = json.loads(mined.read_text().splitlines()[-1])["instance_id"]  # mined newest first
    assert no_history == [first_fix]

    models = tmp_path / "models"
    train = ("bench", "train-ranker", "--train", str(rows), "--out", str(models), "--valid", str(rows))
    proc = run_cli(*train, home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["stage"] == "files" and 0 < figures["rounds"] <= 150
    # every fourth group is learned from again with no history (a plain folder has none)
    assert figures["no_history_copies"] == 4 and 0 < figures["train_instances"] <= 20
    assert figures[str(rows)]["instances"] == 16 and 0 <= figures[str(rows)]["@1"] <= 1
    assert (models / "files.json").exists() and not (models / "symbols.json").exists()
    ranker = load_ranker(models)
    assert ranker.files.features == FILE_FEATURES and ranker.symbols is None

    # rows also trained on are scored out of sample by repository: here a copy of the rows as another
    # repository's, scored by a model fitted on the first repository alone
    other = _as_repository(rows, tmp_path / "other", "acme__other")
    proc = run_cli("bench", "train-ranker", "--train", str(rows), "--train", str(other), "--out", str(tmp_path / "lo"),
                   "--leave-out", str(other), home=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    held_out = json.loads(proc.stdout.strip().splitlines()[-1])[f"{other} (each repository left out)"]
    proc = run_cli("bench", "train-ranker", "--train", str(rows), "--out", str(tmp_path / "one"), "--valid", str(other),
                   home=tmp_path)  # fmt: skip
    alone = json.loads(proc.stdout.strip().splitlines()[-1])[str(other)]
    assert held_out["repositories"] == {"acme__other": alone} and held_out["instances"] == 16
    assert {k: held_out[k] for k in alone} == alone
    proc = run_cli("bench", "train-ranker", "--train", str(other), "--out", str(tmp_path / "lo"),
                   "--leave-out", str(other), home=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "without acme__other no training instance is left" in proc.stderr

    # the definitions' rows come from the learned file order, then the definition model is trained on them
    rows2 = tmp_path / "rows2"
    learned = ("-o", f"retrieval.ranker={models}")
    proc = run_cli("bench", "features", *where, "--out", str(rows2), *NO_DENSE, *learned, home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first = json.loads((rows2 / "rows.jsonl").read_text().splitlines()[0])
    assert first["ranked_files"] and first["gold_symbols"]
    proc = run_cli("bench", "train-ranker", "--train", str(rows2), "--out", str(models), "--stage", "symbols",
                   home=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads((models / "training.json").read_text())
    assert set(record) == {"files", "symbols"}
    assert record["symbols"]["data"] == [{"folder": "rows2", "instances": 16, "repositories": {"acme__ledger": 16}}]
    assert load_ranker(models).symbols is not None

    # localize with the models: every candidate file and definition is placed by them
    issue = "Fix a wrong tax total when the tax rows are empty\n\ntotal_tax() returned a wrong sum of tax amounts."
    proc = run_cli("localize", "--repo", str(repo), "--issue", issue, "--no-llm", "--json", *NO_DENSE, *learned,
                   home=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    loc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loc["files"][0]["reasons"][0] == "learned #1" and loc["symbols"][0]["reasons"][0] == "learned #1"
    assert [f["path"] for f in loc["files"][:1]] == ["ledger/tax.py"]

    # a retrained file model removes the definition model that was trained on the old file order
    proc = run_cli(*train, home=tmp_path)
    assert proc.returncode == 0 and "removed" in proc.stderr and not (models / "symbols.json").exists()


def test_unusable_rankers_and_training_data_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RetrievalError, match="use learned, rrf or a folder"):
        ranker_for(str(tmp_path / "none"))
    with pytest.raises(RetrievalError, match="no ranker model"):
        ranker_for(str(tmp_path))
    assert ranker_for("rrf") is None
    stale = tmp_path / "stale"
    stale.mkdir()
    one_leaf = Tree(*(np.zeros(0, dtype=t) for t in (int, float, int, int, bool, int)), np.zeros(1))
    TreeModel([*FILE_FEATURES[:-1], "old_column"], [one_leaf]).save(stale / "files.json")
    with pytest.raises(
        RetrievalError, match=rf"other features \(missing \['{FILE_FEATURES[-1]}'\], unknown \['old_column'\]"
    ):
        ranker_for(str(stale))
    (stale / "files.json").write_text("{}")
    with pytest.raises(RetrievalError, match="is not a ranker model"):
        ranker_for(str(stale))

    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli("bench", "train-ranker", "--train", str(empty), "--out", str(tmp_path / "m"), home=tmp_path)
    assert proc.returncode == 2 and "holds no rows.jsonl" in proc.stderr
    proc = run_cli("bench", "train-ranker", "--train", str(empty), "--out", str(tmp_path / "m"), "--stage", "x",
                   home=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "--stage x: files or symbols" in proc.stderr
    proc = run_cli("localize", "--repo", str(tmp_path), "--issue", "x", "--no-llm", "-o", "retrieval.ranker=nowhere",
                   home=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "retrieval.ranker 'nowhere'" in proc.stderr


def test_the_shipped_models_read_todays_features_and_follow_a_traceback(tmp_path: Path) -> None:
    ranker = load_ranker()
    assert ranker.files.features == FILE_FEATURES and ranker.symbols is not None
    assert ranker.symbols.features == SYMBOL_FEATURES
    record = json.loads((Path(ranker.source) / "training.json").read_text())
    assert {"files", "symbols", "recipe"} <= set(record) and record["files"]["figures"]["rounds"] == 150
    index = _ledger_index(tmp_path)
    issue = _crash_in_count_tax("Counting goes wrong")
    result = Retriever(index, ranker=ranker).retrieve(issue)
    assert result.files[0].path == "ledger/tax.py" and result.files[0].reasons[0] == "learned #1"
    assert "ledger/tax.py::count_tax" in [s.id for s in result.symbols[:3]]
    assert all(0 < f.score < 1 for f in result.files[:5])


def test_a_candidate_only_a_zero_weight_list_names_is_ranked(tmp_path: Path) -> None:
    """The module list has weight 0 in fusion: a file it alone names is still a candidate of the models."""
    index = _ledger_index(tmp_path)
    retriever = Retriever(index, ranker=load_ranker())
    fused = [RankedFile("ledger/tax.py", 0.3, ["bm25 #1"])]
    rows = FileRows(["ledger/tax.py", "ledger/report.py"], np.zeros((2, len(FILE_FEATURES))))
    ranked = retriever._learned_files(fused, rows)
    assert sorted(f.path for f in ranked) == ["ledger/report.py", "ledger/tax.py"]
    assert all(f.reasons[0].startswith("learned #") for f in ranked)


def test_the_first_ten_definitions_are_spread_over_files() -> None:
    raw = np.array([9, 8, 7, 6, 5, 4.1, 4.0, 3.9, 3.0, 2.5, 1.0, 0.5, 3.95])
    groups = ["a"] * 9 + ["b", "c", "b", "a"]
    order = sorted(range(len(raw)), key=lambda i: -raw[i])
    placed = spread(order, raw, groups)
    ids = [i for i, _, _ in placed]
    assert sorted(ids) == list(range(len(raw)))  # nothing lost or repeated
    assert ids[:5] == [0, 1, 2, 3, 4] and all(score == raw[i] for i, score, _ in placed[:5])  # five of a file free
    # past the fifth, each further definition of "a" pays 0.2 per definition of it already past the fifth:
    # the 6th (4.1) 0.2, the 7th (4.0) 0.4, ..., the 10th (3.0) 1.0: b's 2.5 passes it, not the 9th (3.9 - 0.8)
    assert [groups[i] for i in ids[:SPREAD_HEAD]] == ["a"] * 9 + ["b"]
    assert placed[5] == (5, 4.1 - 0.2, 5) and placed[9] == (9, 2.5, 0) and ids[SPREAD_HEAD] == 8
    scores = [score for _, score, _ in placed[:SPREAD_HEAD]]
    assert scores == sorted(scores, reverse=True)  # the first ten in the order of the scores they were placed with
    assert ids[SPREAD_HEAD:] == [i for i in order if i not in ids[:SPREAD_HEAD]]  # the rest in the model's order
    # penalty 0, or a head of one group's first five, is the model's order
    assert [i for i, _, _ in spread(order, raw, groups, penalty=0.0)] == order
    assert [i for i, _, _ in spread(order, raw, groups, head=SPREAD_FREE)] == order


def test_one_files_outline_does_not_fill_the_first_ten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    methods = "".join(
        f"    def tax_rate_{i}(self, invoice):\n        return invoice.tax_rate * {i}\n\n" for i in range(12)
    )
    make_repo(tmp_path / "repo", {
        "ledger/tax.py": f'"""Tax rates of an invoice."""\n\n\nclass TaxRates:\n{methods}',
        "ledger/invoice.py": '"""Invoices."""\n\n\ndef invoice_tax_rate(invoice):\n    return invoice.tax_rate\n\n\n'
        'def invoice_total(invoice):\n    return invoice.amount\n',
        "ledger/report.py": '"""Reports."""\n\n\ndef report(rows):\n    return rows\n',
    })  # fmt: skip
    index = RepoIndex.build(RepoSource(tmp_path / "repo", "HEAD"))
    issue = (
        "The tax rate of an invoice is wrong\n\n"
        "TaxRates gives a wrong tax rate for an invoice: the invoice tax rate is doubled."
    )
    retriever = Retriever(index, ranker=load_ranker())
    result = retriever.retrieve(issue)
    first = result.symbols[:SPREAD_HEAD]
    assert "ledger/invoice.py::invoice_tax_rate" in [s.id for s in first]
    of_tax = [s for s in first if s.path == "ledger/tax.py"]
    assert len(of_tax) == SPREAD_HEAD - 1 and of_tax[0].qualname == "TaxRates"
    assert [any(r.startswith("spread: ") for r in s.reasons) for s in of_tax] == [False] * 5 + [True] * 4
    assert [s.score for s in first] == sorted((s.score for s in first), reverse=True)
    assert len({s.id for s in result.symbols}) == len(result.symbols) == 16  # every definition, once
    # in the model's own order it is 14th, behind the class and all twelve methods
    monkeypatch.setattr("retrieval.retriever.spread", lambda order, raw, groups: spread(order, raw, groups, penalty=0))
    unspread = [s.id for s in retriever.retrieve(issue).symbols]
    assert unspread.index("ledger/invoice.py::invoice_tax_rate") == 13


def test_an_unsure_file_order_hands_on_definitions_of_more_files(tmp_path: Path) -> None:
    words = [f"{a}{b}" for a in ("amber", "birch", "cedar", "dune") for b in ("fox", "gull", "hare", "ibis", "jay",
             "kite", "lark", "mole", "newt", "owl")]  # fmt: skip
    make_repo(tmp_path / "repo", {
        f"pkg/{w}.py": f'"""Handles {w} records."""\n\n\ndef load_{w}(path):\n    return open(path).read()\n\n\n'
        f'def save_{w}(path, data):\n    open(path, "w").write(data)\n'
        for w in words
    })  # fmt: skip
    index = RepoIndex.build(RepoSource(tmp_path / "repo", "HEAD"))
    retriever = Retriever(index, ranker=load_ranker())
    vague = retriever.retrieve(
        "Saving records loses data\n\nWhen I save a record and load it again, part of it is gone."
    )
    assert vague.files[0].score < UNSURE_BELOW and len(words) == 40 > 30
    assert len({s.path for s in vague.symbols}) == 40  # every file's definitions, not the first 30 files' alone
    precise = retriever.retrieve(
        "save_cedarkite loses data\n\nsave_cedarkite() in pkg/cedarkite.py drops the last line."
    )
    assert precise.files[0].path == "pkg/cedarkite.py" and precise.files[0].score >= UNSURE_BELOW
    assert len({s.path for s in precise.symbols}) == 30
    fused = Retriever(index).retrieve("Saving records loses data\n\nWhen I save a record and load it again.")
    assert len({s.path for s in fused.symbols}) == 30  # fusion has no learned score to be unsure of


def test_feature_columns_are_placed_by_name_and_a_missing_or_unknown_one_is_an_error() -> None:
    from retrieval.features import feature_matrix

    values = {name: [float(i)] * 2 for i, name in enumerate(reversed(FILE_FEATURES))}  # given in another order
    x = feature_matrix(FILE_FEATURES, values, 2)
    assert [x[0, FILE_FEATURES.index(n)] for n in FILE_FEATURES] == [values[n][0] for n in FILE_FEATURES]
    with pytest.raises(ValueError, match=r"missing \['rrf_rank'\], unknown \['rrf_rnak'\]"):
        feature_matrix(FILE_FEATURES, {**{k: v for k, v in values.items() if k != "rrf_rank"}, "rrf_rnak": [0, 0]}, 2)
    assert feature_matrix(SYMBOL_FEATURES, dict.fromkeys(SYMBOL_FEATURES, []), 0).shape == (0, len(SYMBOL_FEATURES))
