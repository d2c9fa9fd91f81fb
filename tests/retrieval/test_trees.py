"""``retrieval.trees``: LightGBM's models evaluated in NumPy give LightGBM's own scores."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from retrieval.trees import TreeModel


def _data(rng: np.random.Generator, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 5))
    x[:, 3] = rng.integers(0, 3, size=n)  # many exact zeros
    y = 2 * x[:, 0] - x[:, 1] ** 2 + (x[:, 3] == 0) + rng.normal(scale=0.1, size=n)
    return x, y


@pytest.mark.parametrize(
    ("params", "holes"),
    [
        ({}, None),  # no missing values: plain comparisons
        ({}, np.nan),  # NaN holes: missing_type NaN, a default side per split
        ({"zero_as_missing": True}, np.nan),  # zeros and NaN both missing: missing_type Zero
        ({"use_missing": False}, np.nan),  # NaN read as zero
    ],
)
def test_numpy_trees_give_lightgbm_scores(tmp_path: Path, params: dict, holes: float | None) -> None:
    rng = np.random.default_rng(3)
    x, y = _data(rng)
    if holes is not None:
        x[rng.random(x.shape) < 0.15] = holes
    base = {"objective": "regression", "num_leaves": 8, "min_data_in_leaf": 5, "verbosity": -1, "seed": 1}
    booster = lgb.train({**base, **params}, lgb.Dataset(x, y, feature_name=[f"f{i}" for i in range(5)]), 30)
    model = TreeModel.from_lightgbm_dump(booster.dump_model())
    probe, _ = _data(np.random.default_rng(4), 300)
    probe[np.random.default_rng(5).random(probe.shape) < 0.15] = np.nan
    probe[:20, 2] = 0.0
    want = booster.predict(probe, raw_score=True)
    assert np.allclose(model.predict(probe), want, atol=1e-9)
    # and the same after the file round trip
    model.save(tmp_path / "m.json")
    again = TreeModel.load(tmp_path / "m.json")
    assert again.features == [f"f{i}" for i in range(5)]
    assert np.allclose(again.predict(probe), want, atol=1e-9)


def test_a_ranking_model_with_one_leaf_trees_and_bad_input() -> None:
    x = np.zeros((40, 2))
    y = np.zeros(40)
    y[::10] = 1
    params = {"objective": "lambdarank", "min_data_in_leaf": 50, "verbosity": -1}
    booster = lgb.train(params, lgb.Dataset(x, y, group=[10] * 4), 3)
    model = TreeModel.from_lightgbm_dump(booster.dump_model())
    assert model.trees and all(t.feature.size == 0 for t in model.trees)  # LightGBM stops at a tree with no split
    assert np.allclose(model.predict(x), booster.predict(x, raw_score=True))
    with pytest.raises(ValueError, match="expected rows of 2 features"):
        model.predict(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="not a repoagent tree model"):
        TreeModel.from_json({"format": "other"})
