"""The learned ranker: tree models over ``retrieval.features`` rows, for files and for definitions.

The models ship in ``retrieval/rankers/`` (``files.json``, ``symbols.json``, and
``training.json``: the data and command that made them); ``repoagent bench
train-ranker`` makes new ones, and the setting ``retrieval.ranker`` picks them
(``learned``), a folder of retrained ones, or reciprocal-rank fusion (``rrf``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from retrieval.errors import RetrievalError
from retrieval.features import FILE_FEATURES, SYMBOL_FEATURES
from retrieval.trees import TreeModel

SHIPPED = Path(__file__).parent / "rankers"


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
