"""The bundled MiniLM as an int8 ONNX Runtime model, made once from the shipped weights.

all-MiniLM-L6-v2 is a six-layer BERT (384 wide, 12 heads) whose sentence vector
is the mean of its last hidden states over the real tokens, normalised.
``build`` writes that network as an ONNX graph from ``model.safetensors`` (ONNX
Runtime's fused Attention, SkipLayerNormalization and BiasGelu, the same
arithmetic as BERT's layers) and quantizes its weights to int8, per output
channel; ``repoagent models build`` runs it at install time (0.7 s to write,
2 s to quantize).  ``MiniLM`` loads it in a few hundredths of a second, where
importing torch and sentence-transformers took 6 to 9 s, and embeds a batch
about twice as fast on two cores.  Its vectors stay within ``TOLERANCE`` of
sentence-transformers' (cosine, each vector), which
``tests/retrieval/test_retrieval.py`` holds it to.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# A new number makes a new file and a new cache key: vectors of another build are never mixed.
BUILD = "int8-1"
FILE_NAME = f"all-MiniLM-L6-v2.{BUILD}.onnx"
# Each vector's cosine with sentence-transformers' is at least this, alone or in any batch (int8 activations
# are scaled per batch).  Measured: 0.987 at worst and 0.994 on average over 149 django file documents; an
# empty text, the worst case, 0.973 (0.969 between it alone and in a batch).  The localization figures of
# both SWE-bench dev splits are those of sentence-transformers' vectors to the fourth decimal.
TOLERANCE = 0.965


def models_dir() -> Path:
    """Where built models are kept: ``REPOAGENT_MODELS``, else beside the interpreter's environment."""
    chosen = os.environ.get("REPOAGENT_MODELS")
    return Path(chosen) if chosen else Path(sys.prefix) / "share" / "repoagent" / "models"


def model_file(folder: Path) -> Path:
    """The int8 model of the weights in ``folder``: made now (once, a few seconds) when missing."""
    target = models_dir() / FILE_NAME
    fallback = Path.home() / ".cache" / "repoagent" / "models" / FILE_NAME
    for found in (target, fallback):
        if found.is_file():
            return found
    started = time.perf_counter()
    try:
        build(folder, target)
    except OSError:  # the environment is read-only: the user's cache
        target = build(folder, fallback)
    log.warning(
        "made the embedding model %s in %.1f s (once; `repoagent models build` does it at install)",
        target,
        time.perf_counter() - started,
    )
    return target


def build(folder: Path, target: Path) -> Path:
    """Write the int8 ONNX model of the BERT weights in ``folder`` to ``target`` (atomically)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's advice (pre-processing) goes to the root logger
    try:
        return _build(folder, target)
    finally:
        root.setLevel(level)


def _build(folder: Path, target: Path) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        plain = Path(tmp) / "fp32.onnx"
        onnx.save(_graph(Path(folder)), str(plain))
        quantized = Path(tmp) / "int8.onnx"
        quantize_dynamic(
            str(plain),
            str(quantized),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # the fused ops' outputs are float
        )
        os.replace(quantized, target)  # two processes building at once each leave a whole file
    return target


def _graph(folder: Path) -> Any:
    """BERT with mean pooling and normalisation as an ONNX model (opset 17 and ONNX Runtime's fused ops)."""
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text())
    heads, layers = int(config["num_attention_heads"]), int(config["num_hidden_layers"])
    w = {k.removeprefix("bert."): v for k, v in load_file(str(folder / "model.safetensors")).items()}
    width = w["embeddings.word_embeddings.weight"].shape[1]
    weights: list[Any] = []
    nodes: list[Any] = []

    def weight(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], ms: bool = False, **attributes: Any) -> str:
        out = f"t{len(nodes)}"
        domain = "com.microsoft" if ms else ""
        nodes.append(helper.make_node(op, inputs, [out], name=f"n{len(nodes)}", domain=domain, **attributes))
        return out

    e = "embeddings."
    zero, axis1, last = weight("zero", np.array([0], np.int64)), weight("axis1", np.array([1], np.int64)), "axis_last"
    weight(last, np.array([-1], np.int64))
    length = node("Shape", ["input_ids"], start=1, end=2)
    positions = node("Slice", [weight("positions", w[e + "position_embeddings.weight"]), zero, length, zero])
    words = node("Gather", [weight("words", w[e + "word_embeddings.weight"]), "input_ids"])
    x = node("Add", [node("Add", [words, positions]), weight("type0", w[e + "token_type_embeddings.weight"][0])])
    x = node(
        "LayerNormalization",
        [x, weight("ln.w", w[e + "LayerNorm.weight"]), weight("ln.b", w[e + "LayerNorm.bias"])],
        axis=-1,
        epsilon=1e-12,
    )
    mask = node("Cast", ["attention_mask"], to=TensorProto.INT32)
    for n in range(layers):
        p = f"encoder.layer.{n}."

        def linear(name: str, p: str = p) -> tuple[str, str]:
            return weight(p + name + ".w", w[p + name + ".weight"].T), weight(p + name + ".b", w[p + name + ".bias"])

        def dense_add_norm(inputs: str, residual: str, dense: str, norm: str, p: str = p) -> str:
            """LayerNorm(inputs @ W + b + residual), in one of ONNX Runtime's fused nodes."""
            weights, bias = linear(dense)
            gain, shift = (
                weight(p + norm + ".g", w[p + norm + ".weight"]),
                weight(p + norm + ".beta", w[p + norm + ".bias"]),
            )
            product = node("MatMul", [inputs, weights])
            return node("SkipLayerNormalization", [product, residual, gain, shift, bias], ms=True, epsilon=1e-12)

        qkv = [f"{p}attention.self.{m}" for m in ("query", "key", "value")]
        packed = weight(p + "qkv.w", np.concatenate([w[m + ".weight"].T for m in qkv], axis=1))
        packed_bias = weight(p + "qkv.b", np.concatenate([w[m + ".bias"] for m in qkv]))
        context = node("Attention", [x, packed, packed_bias, mask], ms=True, num_heads=heads)
        x = dense_add_norm(context, x, "attention.output.dense", "attention.output.LayerNorm")
        inner_w, inner_b = linear("intermediate.dense")
        inner = node("BiasGelu", [node("MatMul", [x, inner_w]), inner_b], ms=True)
        x = dense_add_norm(inner, x, "output.dense", "output.LayerNorm")
    real = node("Unsqueeze", [node("Cast", ["attention_mask"], to=TensorProto.FLOAT), last])
    summed = node("ReduceSum", [node("Mul", [x, real]), axis1], keepdims=0)
    count = node("Max", [node("ReduceSum", [real, axis1], keepdims=0), weight("tiny", np.array(1e-9, np.float32))])
    pooled = node("Div", [summed, count])
    size = node("Sqrt", [node("ReduceSum", [node("Mul", [pooled, pooled]), axis1], keepdims=1)])
    size = node("Max", [size, weight("tinier", np.array(1e-12, np.float32))])
    nodes.append(helper.make_node("Div", [pooled, size], ["sentence_embedding"], name="normalised"))
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", width])],
        weights,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 8
    return model


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
    """``encode(texts)`` as sentence-transformers' for the bundled model, through ONNX Runtime."""

    def __init__(self, folder: Path, max_seq_length: int, threads: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        one_blas_thread()  # NumPy's products beside the model (a shortlist's similarities) in threads, too
        folder = Path(folder)
        self.max_seq_length = max_seq_length
        self.path = model_file(folder)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads sleep
        options.log_severity_level = 3  # its notes on unused weights are not the user's business
        self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.dimension = int(self.session.get_outputs()[0].shape[1])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.tokenizer.no_padding()

    def encode(self, texts: list[str], normalize_embeddings: bool = True, convert_to_numpy: bool = True) -> np.ndarray:
        """Sentence vectors of ``texts`` (float32, one row each, normalised), padded per call to its longest text."""
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), np.int64)
        mask = np.zeros((len(texts), length), np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        (vectors,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.asarray(vectors, np.float32)
