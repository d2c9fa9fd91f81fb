#!/usr/bin/env bash
# Install everything the tests need into .venv, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m ruff check .
.venv/bin/lint-imports  # the layers in pyproject.toml: an import that runs upward fails here
.venv/bin/python -m pytest -q "$@"
