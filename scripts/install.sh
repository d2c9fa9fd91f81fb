#!/usr/bin/env bash
# Create .venv and install repoagent with its test tools. CPU torch first: an
# unpinned torch pulled in by sentence-transformers would bring a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
# swebench (the official grader, its loaders), ray (the cluster executor) and the GitHub App are tested too.
.venv/bin/python -m pip install -q -e ".[dev,swebench,ray,github]"
# The bundled embedding model as int8 ONNX, made from its shipped weights (retrieval/minilm.py).
.venv/bin/repoagent models build > /dev/null
