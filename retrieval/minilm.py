"""The bundled MiniLM sentence encoder in NumPy: the same vectors as sentence-transformers, without torch.

all-MiniLM-L6-v2 is a six-layer BERT (384 wide, 12 heads) whose sentence vector
is the mean of its last hidden states over the real tokens, normalised.  Its
weights (``model.safetensors``) and tokenizer (``tokenizer.json``) are read
from the model folder with ``safetensors`` and ``tokenizers``, the forward pass
is a few matrix products.  Importing torch and sentence-transformers costs
seconds before any work; this encoder is ready in a fraction of one, so a
warm ``localize`` (every file's vectors cached, only the issue to embed) never
loads torch.  ``tests/retrieval/test_retrieval.py`` holds it to sentence-transformers' vectors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_LAYER_NORM_EPS = 1e-12


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x)."""
    from scipy.special import erf  # a C loop: ten times a NumPy formula on a batch's activations

    return 0.5 * x * (1.0 + erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _LAYER_NORM_EPS) * weight + bias


def one_blas_thread() -> None:
    """OpenBLAS runs each call on one thread, the caller's.

    OpenBLAS shuts its thread pool down before every fork (``pthread_atfork``); a thread that is inside a
    BLAS call at that moment waits on the pool forever, and so does the fork.  That hung four fixes run in
    threads: three embedding queries while the sandbox forked (``preexec_fn`` means fork, not vfork).  With
    one thread a call never uses the pool; our own threads are what run in parallel.
    """
    from threadpoolctl import ThreadpoolController

    ThreadpoolController().select(internal_api="openblas").limit(limits=1)


class MiniLM:
    """``encode(texts)`` as sentence-transformers' for a BERT model folder with mean pooling."""

    def __init__(self, folder: Path, max_seq_length: int) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        one_blas_thread()
        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.max_seq_length = max_seq_length
        self.w = {k.removeprefix("bert."): v for k, v in load_file(str(folder / "model.safetensors")).items()}
        # each linear layer's weight transposed once, contiguous: ``x @ t`` is one BLAS product
        self.t = {k.removesuffix(".weight"): np.ascontiguousarray(v.T) for k, v in self.w.items()
                  if k.startswith("encoder.") and k.endswith(".weight") and v.ndim == 2}  # fmt: skip
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.tokenizer.no_padding()

    def encode(self, texts: list[str], normalize_embeddings: bool = True, convert_to_numpy: bool = True) -> np.ndarray:
        """Sentence vectors of ``texts`` (float32, one row each), padded per batch to its longest text."""
        if not texts:
            return np.zeros((0, self.w["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), np.int64)
        mask = np.zeros((len(texts), length), np.float32)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1.0
        hidden = self._forward(ids, mask)
        pooled = (hidden * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        if normalize_embeddings:
            pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        width = x.shape[-1]
        x = _layer_norm(
            x.reshape(batch * length, width), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]
        )
        size = width // self.heads
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]  # padding gets no attention
        scale = np.float32(1.0 / np.sqrt(size))

        def heads(v: np.ndarray, order: tuple[int, ...]) -> np.ndarray:  # contiguous, so matmul runs in BLAS
            return np.ascontiguousarray(v.reshape(batch, length, self.heads, size).transpose(order))

        for n in range(self.layers):
            p = f"encoder.layer.{n}."
            q = heads(self._dense(x, f"{p}attention.self.query") * scale, (0, 2, 1, 3))
            k = heads(self._dense(x, f"{p}attention.self.key"), (0, 2, 3, 1))
            v = heads(self._dense(x, f"{p}attention.self.value"), (0, 2, 1, 3))
            scores = q @ k + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            context = context.transpose(0, 2, 1, 3).reshape(batch * length, width)
            x = _layer_norm(
                self._dense(context, f"{p}attention.output.dense") + x,
                w[f"{p}attention.output.LayerNorm.weight"],
                w[f"{p}attention.output.LayerNorm.bias"],
            )
            inner = _gelu(self._dense(x, f"{p}intermediate.dense"))
            x = _layer_norm(
                self._dense(inner, f"{p}output.dense") + x,
                w[f"{p}output.LayerNorm.weight"],
                w[f"{p}output.LayerNorm.bias"],
            )
        return x.reshape(batch, length, width)

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.t[name] + self.w[f"{name}.bias"]
