"""Gradient-boosted trees evaluated with NumPy: the learned ranker's models, without LightGBM at run time.

A model is trained by LightGBM (``repoagent bench train-ranker``) and shipped as
the compact JSON ``TreeModel.to_json`` writes from ``Booster.dump_model()``:
per tree, each node's split feature, threshold, children (a negative child
``~i`` is leaf ``i``), the side a missing value takes and the kind of value
that counts as missing.  ``predict`` gives the same raw scores as
``Booster.predict`` (tested against it), all rows at once, one tree level at a
time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


@dataclass(frozen=True)
class Tree:
    feature: np.ndarray  # int, per inner node
    threshold: np.ndarray
    left: np.ndarray  # child node, or ~leaf
    right: np.ndarray
    default_left: np.ndarray  # bool
    missing: np.ndarray  # 0 none, 1 zero, 2 NaN
    leaves: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.feature.size == 0:
            return np.full(len(x), self.leaves[0])
        node = np.zeros(len(x), dtype=np.int64)
        active = np.ones(len(x), dtype=bool)
        rows = np.arange(len(x))
        while active.any():
            at = node[active]
            values = x[rows[active], self.feature[at]]
            kind = self.missing[at]
            is_nan = np.isnan(values)
            absent = ((kind == 2) & is_nan) | ((kind == 1) & ((values == 0) | is_nan))
            values = np.where(is_nan & (kind == 0), 0.0, values)
            go_left = np.where(absent, self.default_left[at], values <= self.threshold[at])
            node[active] = np.where(go_left, self.left[at], self.right[at])
            active = node >= 0
        return self.leaves[~node]


class TreeModel:
    """A sum of trees over named features: the raw ranking score of each row."""

    def __init__(self, features: list[str], trees: list[Tree], meta: dict[str, Any] | None = None) -> None:
        self.features = features
        self.trees = trees
        self.meta = meta or {}

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"expected rows of {len(self.features)} features, got shape {x.shape}")
        total = np.zeros(len(x))
        for tree in self.trees:
            total += tree.predict(x)
        return total

    @classmethod
    def from_lightgbm_dump(cls, dump: dict[str, Any], meta: dict[str, Any] | None = None) -> TreeModel:
        """From ``lightgbm.Booster.dump_model()``."""
        trees = [_flatten(info["tree_structure"]) for info in dump["tree_info"]]
        return cls(list(dump["feature_names"]), trees, meta)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "repoagent-trees-1",
            "features": self.features,
            "meta": self.meta,
            "trees": [
                {
                    "feature": t.feature.tolist(),
                    "threshold": t.threshold.tolist(),
                    "left": t.left.tolist(),
                    "right": t.right.tolist(),
                    "default_left": t.default_left.astype(int).tolist(),
                    "missing": t.missing.tolist(),
                    "leaves": t.leaves.tolist(),
                }
                for t in self.trees
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeModel:
        if data.get("format") != "repoagent-trees-1":
            raise ValueError(f"not a repoagent tree model (format {data.get('format')!r})")
        trees = [
            Tree(
                np.array(t["feature"], dtype=np.int64),
                np.array(t["threshold"], dtype=np.float64),
                np.array(t["left"], dtype=np.int64),
                np.array(t["right"], dtype=np.int64),
                np.array(t["default_left"], dtype=bool),
                np.array(t["missing"], dtype=np.int64),
                np.array(t["leaves"], dtype=np.float64),
            )
            for t in data["trees"]
        ]
        return cls(list(data["features"]), trees, data.get("meta", {}))

    @classmethod
    def load(cls, path: Path) -> TreeModel:
        return cls.from_json(json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n")


def _flatten(root: dict[str, Any]) -> Tree:
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    default_left: list[bool] = []
    missing: list[int] = []
    leaves: list[float] = []

    def visit(node: dict[str, Any]) -> int:
        if "leaf_value" in node:
            leaves.append(float(node["leaf_value"]))
            return ~(len(leaves) - 1)
        if node.get("decision_type", "<=") != "<=":
            raise ValueError(f"unsupported split {node['decision_type']!r} (categorical features are not used)")
        at = len(feature)
        feature.append(int(node["split_feature"]))
        threshold.append(float(node["threshold"]))
        default_left.append(bool(node.get("default_left", True)))
        missing.append(_MISSING[node.get("missing_type", "None")])
        left.append(0)
        right.append(0)
        left[at] = visit(node["left_child"])
        right[at] = visit(node["right_child"])
        return at

    visit(root)  # a tree of one leaf leaves every list but ``leaves`` empty
    return Tree(
        np.array(feature, dtype=np.int64),
        np.array(threshold, dtype=np.float64),
        np.array(left, dtype=np.int64),
        np.array(right, dtype=np.int64),
        np.array(default_left, dtype=bool),
        np.array(missing, dtype=np.int64),
        np.array(leaves, dtype=np.float64),
    )
