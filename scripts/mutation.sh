#!/usr/bin/env bash
# The mutation check (a benchmark, not part of CI): mutmut mutates the loop's choice, the budget, the
# editor's application and the gates ([tool.mutmut] in pyproject.toml) and runs the in-process tests
# that guard them against each mutant. Prints the counts, then every surviving mutant.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/python -m pip install -q "mutmut>=3.3"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
rm -rf mutants
.venv/bin/mutmut run --max-children "${JOBS:-2}"
.venv/bin/mutmut results
