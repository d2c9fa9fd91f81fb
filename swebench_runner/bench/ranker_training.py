"""``repoagent bench features`` and ``bench train-ranker``: the learned ranker's data and its training.

``bench features`` runs retrieval on SWE-bench-shaped instances (the mined
pairs of ``bench mine``, or the dev splits) and keeps, per instance, the
feature rows of the candidate files and definitions (``<id>.npz``) beside the
JSON line ``bench localize`` writes (gold files and definitions, the ranking).
``bench train-ranker`` fits LightGBM's lambdarank on those rows: one group per
issue, label 1 for a gold file (or definition).  Training is in two steps, as
the definitions' rows depend on the file ranking: the file model first, then
features again with ``-o retrieval.ranker=FOLDER`` (learned file order,
definitions by fusion), then the definition model.  A fixed seed and one
thread make a retrain give the same model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from repoagent.errors import UserError
from retrieval.features import FILE_FEATURES, HISTORY_COLUMNS, SYMBOL_FEATURES
from retrieval.ranker import spread
from retrieval.retriever import RankingFeatures
from retrieval.trees import TreeModel
from swebench_runner.run.journal import read_rows

Stage = Literal["files", "symbols"]
ROWS = "rows.jsonl"

PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [1, 5, 10],
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambdarank_truncation_level": 20,
    "seed": 7,
    "deterministic": True,
    "num_threads": 1,
    "force_row_wise": True,
    "verbosity": -1,
}
# A fixed number of rounds: early stopping on a held-out share of the training data (in-distribution) stopped
# at 34 rounds and lost 0.025 of file@1 on the mined validation split; 100 to 250 rounds gave the same figures
# on it and on the dev split (each repository scored by a model trained without it).
ROUNDS = 150
# The file model also learns from every fourth training group again with its history columns missing, so a
# repository with no history (a plain folder, a one-commit copy of a partial mirror) is ranked about as
# well as by a model without those columns. Measured on the mined validation pairs (800) and the dev split (each
# repository by a model trained without it): without history, file@1 within 0.011 of such a model both ways; with
# history, file@1 +0.016 and @3 +0.03 on the 800 (without this share: +0.01, and the dev split's @10 fell 0.027
# when history was missing).
NO_HISTORY_EVERY = 4


def save_features(folder: Path, instance_id: str, features: RankingFeatures) -> None:
    """One instance's rows, as ``<id>.npz`` (float32 rows, candidate names beside)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        folder / f"{_safe(instance_id)}.npz",
        file_x=features.files.x.astype(np.float32),
        file_paths=np.array(features.files.paths, dtype=object),
        symbol_x=features.symbols.x.astype(np.float32),
        symbol_keys=np.array(features.symbols.keys, dtype=object),
    )


def _safe(instance_id: str) -> str:
    return instance_id.replace("/", "__")


@dataclass
class Group:
    """One issue's candidates of one stage: rows, labels, names."""

    instance_id: str
    x: np.ndarray
    y: np.ndarray
    names: list[str]
    gold: int  # how many gold items the instance has (some may not be candidates)


def read_groups(folder: Path, stage: Stage) -> Iterator[Group]:
    """The groups of ``folder`` (made by ``bench features``), in the order of its rows; errors left out."""
    rows = read_rows(folder / ROWS)
    if not rows:
        raise ValueError(f"{folder} holds no {ROWS}: make it with `repoagent bench features --out {folder}`")
    for instance_id, row in rows.items():
        path = folder / f"{_safe(instance_id)}.npz"
        if row.get("error") or not path.exists():
            continue
        with np.load(path, allow_pickle=True) as data:
            if stage == "files":
                names = [str(p) for p in data["file_paths"]]
                gold = set(row["gold_files"])
                x = data["file_x"].astype(np.float64)
            else:
                names = [str(k).rsplit("#", 1)[0] for k in data["symbol_keys"]]
                gold = set(row["gold_symbols"])
                x = data["symbol_x"].astype(np.float64)
        if not gold:
            continue
        y = np.array([n in gold for n in names], dtype=np.float64)
        yield Group(instance_id, x, y, names, len(gold))


def monotone(columns: list[str]) -> list[int]:
    """A better rank in any list never lowers the score, a higher score never lowers it (the rest are free).

    Measured on the dev split (each repository scored by a model trained without
    it) and the mined validation split: the same figures or better, and a model
    that cannot learn that evidence counts against a candidate where its
    training data were thin.
    """
    return [-1 if c.endswith("_rank") else 1 if c.endswith(("_score", "_rel")) else 0 for c in columns]


def _stack(groups: list[Group]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    useful = [g for g in groups if g.y.any() and len(g.y) > 1]
    if not useful:
        raise ValueError("no instance has a gold item among its candidates: nothing to learn from")
    return (
        np.concatenate([g.x for g in useful]),
        np.concatenate([g.y for g in useful]),
        [len(g.y) for g in useful],
    )


def recall(
    groups: list[Group], scores: list[np.ndarray], ks: tuple[int, ...], spread_files: bool = False
) -> dict[str, float]:
    """Share of instances whose gold items all rank within k among the rows (gold outside them is missed);
    ``spread_files``: definitions in the order the retriever gives them (``retrieval.ranker.spread``).

    Figures over the rows alone: ``bench localize`` gives the ranking's own.
    """
    out: dict[str, float] = {}
    orders = []
    for g, s in zip(groups, scores, strict=True):
        order = sorted(range(len(s)), key=lambda i: (-s[i], i))
        if spread_files:
            order = [i for i, _, _ in spread(order, s, [n.split("::", 1)[0] for n in g.names])]
        orders.append(order)
    for k in ks:
        hits = [sum(g.y[i] for i in order[:k]) >= g.gold for g, order in zip(groups, orders, strict=True)]
        out[f"@{k}"] = round(sum(hits) / len(hits), 4) if hits else 0.0
    return out


def repository(instance_id: str) -> str:
    """``owner__name`` of an instance id (``owner__name-NUMBER`` or, mined, ``owner__name-COMMIT``)."""
    return instance_id.rsplit("-", 1)[0]


def train(
    train_dirs: list[Path], valid_dirs: list[Path], stage: Stage, leave_out_dirs: list[Path] | None = None
) -> tuple[TreeModel, dict[str, Any]]:
    """Fit the ``stage`` model on every instance of ``train_dirs`` (a folder given twice counts twice) that has a
    gold item among its candidates; figures (recall among the rows) on each of ``valid_dirs``, and on each of
    ``leave_out_dirs`` with every repository scored by a model fitted without that repository's instances
    (in any folder): out-of-sample figures for data that is also trained on."""
    columns = FILE_FEATURES if stage == "files" else SYMBOL_FEATURES
    read: dict[Path, list[Group]] = {}  # a folder named three times, or to train and to score, is read once
    for d in [*train_dirs, *valid_dirs, *(leave_out_dirs or [])]:
        if d.resolve() not in read:
            read[d.resolve()] = list(read_groups(d, stage))
    groups = [g for d in train_dirs for g in read[d.resolve()]]
    for g in groups:
        if g.x.shape[1] != len(columns):
            raise ValueError(f"{g.instance_id}: {g.x.shape[1]} columns, today's features have {len(columns)}")
    model, figures = _fit(groups, stage)
    ks = (1, 3, 5, 10) if stage == "files" else (5, 10)
    spread_files = stage == "symbols"
    for d in valid_dirs:
        valid = read[d.resolve()]
        figures[str(d)] = {
            "instances": len(valid),
            **recall(valid, [model.predict(g.x) for g in valid], ks, spread_files),
        }
    for d in leave_out_dirs or []:
        scored = read[d.resolve()]
        held_out: dict[str, np.ndarray] = {}
        by_repository: dict[str, dict[str, float]] = {}
        for repo in sorted({repository(g.instance_id) for g in scored}):
            held = [g for g in scored if repository(g.instance_id) == repo]
            try:
                fitted, _ = _fit([g for g in groups if repository(g.instance_id) != repo], stage)
            except ValueError as exc:  # no training instance with a gold item left
                raise ValueError(f"--leave-out {d}: without {repo} no training instance is left ({exc})") from exc
            held_out |= {g.instance_id: fitted.predict(g.x) for g in held}
            by_repository[repo] = {
                "instances": len(held),
                **recall(held, [held_out[g.instance_id] for g in held], ks, spread_files),
            }
        figures[f"{d} (each repository left out)"] = {
            "instances": len(scored),
            **recall(scored, [held_out[g.instance_id] for g in scored], ks, spread_files),
            "repositories": by_repository,
        }
    return model, figures


def _fit(groups: list[Group], stage: Stage) -> tuple[TreeModel, dict[str, Any]]:
    import lightgbm as lgb

    columns = FILE_FEATURES if stage == "files" else SYMBOL_FEATURES
    copies = [_without_history(g) for g in groups[::NO_HISTORY_EVERY]] if stage == "files" else []
    x, y, sizes = _stack(groups + copies)
    params = {**PARAMS, "monotone_constraints": monotone(columns)}
    data = lgb.Dataset(x, y, group=sizes, feature_name=columns, free_raw_data=False)
    booster = lgb.train(params, data, num_boost_round=ROUNDS)
    rounds = booster.current_iteration()
    model = TreeModel.from_lightgbm_dump(booster.dump_model(num_iteration=rounds))
    model.meta = {"stage": stage, "params": params, "rounds": rounds, "lightgbm": lgb.__version__}
    gain = booster.feature_importance("gain")
    figures: dict[str, Any] = {
        "stage": stage,
        "rounds": rounds,
        "train_instances": len(sizes),
        "train_rows": int(len(y)),
        "no_history_copies": len(copies),
        "top_features": [columns[i] for i in np.argsort(-gain)[:12] if gain[i] > 0],
    }
    return model, figures


_HISTORY_AT = [FILE_FEATURES.index(c) for c in HISTORY_COLUMNS]


def _without_history(group: Group) -> Group:
    x = group.x.copy()
    x[:, _HISTORY_AT] = np.nan
    return Group(group.instance_id, x, group.y, group.names, group.gold)


def describe(folder: Path) -> dict[str, Any]:
    """What a folder of rows holds: how many instances of which repositories."""
    counts: dict[str, int] = {}
    for instance_id in read_rows(folder / ROWS):
        repo = repository(instance_id)
        counts[repo] = counts.get(repo, 0) + 1
    return {"folder": folder.name, "instances": sum(counts.values()), "repositories": counts}


def write_training_record(out: Path, stage: Stage, figures: dict[str, Any], train_dirs: list[Path]) -> None:
    """``training.json`` beside the models: the data and the figures of each."""
    path = out / "training.json"
    record = json.loads(path.read_text()) if path.exists() else {}
    if stage == "files":
        record.pop("symbols", None)
    record[stage] = {"data": [describe(d) for d in train_dirs], "figures": figures}
    path.write_text(json.dumps(record, indent=1) + "\n")


def train_and_save(
    train_dirs: list[Path], valid: list[Path], stage: Stage, leave_out: list[Path], out: Path
) -> tuple[dict[str, Any], list[str]]:
    """Fit ``stage``'s model and write it (and its training record) under ``out``; a file model removes the
    definition model made under the previous one.  The figures, and what was written or removed."""
    for folder in [*train_dirs, *valid, *leave_out]:
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder of `bench features` rows")
    try:
        model, figures = train(train_dirs, valid, stage, leave_out)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / f"{stage}.json")
    said = []
    stale = out / "symbols.json"
    if stage == "files" and stale.exists():
        stale.unlink()
        said.append(f"removed {stale}: its rows came from the previous file model")
    write_training_record(out, stage, figures, train_dirs)
    return figures, [*said, f"wrote {out / (stage + '.json')}"]
