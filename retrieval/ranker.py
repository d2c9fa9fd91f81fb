"""The learned ranker: tree models over ``retrieval.features`` rows, for files and for definitions.

The models ship in ``retrieval/rankers/`` (``files.json``, ``symbols.json``, and
``training.json``: the data and command that made them); ``repoagent bench
train-ranker`` makes new ones, and the setting ``retrieval.ranker`` picks them
(``learned``), a folder of retrained ones, or reciprocal-rank fusion (``rrf``).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from retrieval.errors import RetrievalError
from retrieval.features import FILE_FEATURES, SYMBOL_FEATURES
from retrieval.trees import TreeModel

SHIPPED = Path(__file__).parent / "rankers"


# The first ten definitions are spread over files: past the fifth of one file, each further definition of it
# pays 0.2 of the model's raw score (a raw score's spread over a top ten is about 3).  Measured with models
# that never saw the instances (dev split, each repository left out; 800 mined pairs of ansible and pip):
# symbol@5, @10 and @20 unchanged on dev and @10 +0.007 on the mined pairs, while top tens that one file
# fills entirely fell from 13% to 3% (dev) and 11% to 3% (mined), eight or more of ten from 37% to 23% and
# 33% to 18%.  Spreading further down, or harder, cost recall: gold definitions often share a file.
SPREAD_HEAD = 10
SPREAD_FREE = 5
SPREAD_PENALTY = 0.2


# When the file model is unsure (its first file scores under 0.8: 3% of the dev split's issues, 14% to 20%
# of the mined ones), the definitions of the first 60 files are ranked instead of 30, so the definitions
# handed on come from more files.  Measured: symbol@5 and @10 the same on the dev split and the mined
# validation pairs whether 30, 40 or 60 files are scored, always or only when unsure, and with a definition
# model trained on 60 files' rows: of the 18 issues with a gold definition in a file ranked 31 to 60, none
# reached the first 20 definitions.  Recall is decided by the file order; this widens what the model
# stages see when that order is weak.
UNSURE_BELOW = 0.8
UNSURE_FILES = 60


def spread(
    order: Sequence[int],
    raw: np.ndarray,
    groups: Sequence[str],
    head: int = SPREAD_HEAD,
    free: int = SPREAD_FREE,
    penalty: float = SPREAD_PENALTY,
) -> list[tuple[int, float, int]]:
    """``order`` (candidates by the model, best first) with its first ``head`` spread over ``groups`` (files).

    The first ``head`` are picked one by one, each time the candidate with the best raw score less
    ``penalty`` for every candidate of its group already picked past the first ``free - 1``; the rest
    follow in ``order``.  Each item is (candidate, raw score it was placed with, how many of its group
    were picked before it).
    """
    queues: dict[str, list[int]] = {}
    for i in order:
        queues.setdefault(groups[i], []).append(i)
    position = {i: p for p, i in enumerate(order)}
    heap = [(-raw[q[0]], position[q[0]], g, 0) for g, q in queues.items()]
    heapq.heapify(heap)
    out: list[tuple[int, float, int]] = []
    while heap and len(out) < head:
        neg, _, g, before = heapq.heappop(heap)
        out.append((queues[g][before], float(-neg), before))
        if before + 1 < len(queues[g]):
            j = queues[g][before + 1]
            cost = penalty * max(0, before + 2 - free)
            heapq.heappush(heap, (-(raw[j] - cost), position[j], g, before + 1))
    picked = {i for i, _, _ in out}
    return out + [(i, float(raw[i]), -1) for i in order if i not in picked]


def squash(raw: float) -> float:
    """A learned raw score as the 0..1 score reports show (and the symbol model reads as ``file_score``)."""
    return float(1.0 / (1.0 + np.exp(-raw)))


@dataclass(frozen=True)
class LearnedRanker:
    files: TreeModel
    symbols: TreeModel | None  # None: definitions by fusion over the learned file order
    source: str

    def score_files(self, x: np.ndarray) -> np.ndarray:
        return self.files.predict(x) if len(x) else np.zeros(0)

    def score_symbols(self, x: np.ndarray) -> np.ndarray:
        assert self.symbols is not None
        return self.symbols.predict(x) if len(x) else np.zeros(0)


def load_ranker(folder: Path = SHIPPED) -> LearnedRanker:
    """The models in ``folder``; no ``files.json``, or columns other than today's features, is an error.

    A folder without ``symbols.json`` ranks definitions by fusion over the learned
    file order (how the symbol model's training rows are made).
    """
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.json")))
    return _load(str(folder.resolve()), stamp)


@lru_cache(maxsize=4)
def _load(folder: str, stamp: tuple[tuple[str, int, int], ...]) -> LearnedRanker:
    """Read once per process while the files stay as they are (``stamp``: names, times, sizes)."""
    models: list[TreeModel | None] = []
    for name, columns in (("files", FILE_FEATURES), ("symbols", SYMBOL_FEATURES)):
        path = Path(folder) / f"{name}.json"
        if not path.is_file():
            if name == "symbols":
                models.append(None)
                continue
            raise RetrievalError(f"no ranker model {path} (retrain with `repoagent bench train-ranker`)")
        try:
            model = TreeModel.load(path)
        except (ValueError, KeyError) as exc:
            raise RetrievalError(f"{path} is not a ranker model: {exc}") from exc
        if model.features != columns:
            missing = sorted(set(columns) - set(model.features))
            extra = sorted(set(model.features) - set(columns))
            raise RetrievalError(
                f"{path} was trained on other features (missing {missing}, unknown {extra}); "
                "retrain it with `repoagent bench train-ranker`"
            )
        models.append(model)
    assert models[0] is not None
    return LearnedRanker(models[0], models[1], folder)


def ranker_for(setting: str) -> LearnedRanker | None:
    """``rrf``: none (reciprocal-rank fusion); ``learned``: the shipped models; else a folder of models."""
    if setting == "rrf":
        return None
    if setting == "learned":
        return load_ranker()
    folder = Path(setting).expanduser()
    if not folder.is_dir():
        raise RetrievalError(f"retrieval.ranker {setting!r}: use learned, rrf or a folder of ranker models")
    return load_ranker(folder)
