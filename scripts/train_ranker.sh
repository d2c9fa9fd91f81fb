#!/usr/bin/env bash
# Rebuild the learned ranker (retrieval/rankers/) from the mined lists in configs/mining/ and the SWE-bench
# dev split.
#
#   bash scripts/train_ranker.sh MIRRORS DEV_JSONL WORK [OUT]
#
# MIRRORS:   a folder of full-history git repositories, <owner>+<name>/repo (as fetched) or <owner>__<name>:
#            scipy, numpy, sqlalchemy, twisted and the dev split's six repositories (REPO_MAP=FILE, a JSON
#            map of owner/name to a git folder, for any found elsewhere).
# DEV_JSONL: the SWE-bench dev split (225 instances; never a test split).
# WORK:      a scratch folder (mined rows, feature rows, index caches); nothing of it ships.
# OUT:       the models' folder (default retrieval/rankers).
# PER_REPO (default 250): the first pairs of each mined list used; DEV_WEIGHT (default 3): how many times the
# dev split counts (its issues are written as users write them, the mined ones as commit messages).
# Two processes at a time; about 40 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
mirrors=$(realpath "$1"); dev=$(realpath "$2"); work=$(realpath -m "$3"); out=$(realpath -m "${4:-retrieval/rankers}")
per_repo=${PER_REPO:-250}; dev_weight=${DEV_WEIGHT:-3}
rk="$PWD/.venv/bin/repoagent"
map=(); [ -n "${REPO_MAP:-}" ] && map=(--repo-map "$(realpath "$REPO_MAP")")
export HF_HUB_OFFLINE=1
mkdir -p "$work"
for name in scipy/scipy numpy/numpy sqlalchemy/sqlalchemy twisted/twisted; do
  base=${name#*/}
  git_dir="$mirrors/${name/\//+}/repo"; [ -d "$git_dir" ] || git_dir="$mirrors/${name/\//__}"
  REPOAGENT_HOME="$work/home" "$rk" bench mine --repo "$git_dir" --name "$name" \
    --commits "configs/mining/$base.commits" --limit "$per_repo" --out "$work/$base.jsonl" | tail -1
done
cat "$work/scipy.jsonl" "$work/numpy.jsonl" > "$work/a.jsonl"
cat "$work/sqlalchemy.jsonl" "$work/twisted.jsonl" > "$work/b.jsonl"
cp "$dev" "$work/dev.jsonl"

features() {  # PASS then -o overrides: the three datasets, two at a time, each with its own cache
  local pass=$1; shift
  run() { local part=$1; shift
          REPOAGENT_HOME="$work/home_$part" "$rk" bench features --dataset "$work/$part.jsonl" \
            --repos "$mirrors" "${map[@]}" --out "$work/$pass-$part" "$@" 2>"$work/$pass-$part.log" | tail -1; }
  (run a "$@"; run dev "$@") & (run b "$@") & wait
}
train() {  # STAGE: the mined halves once, the dev split DEV_WEIGHT times (and scored by repository left out)
  local args=(--train "$work/$1-a" --train "$work/$1-b" --leave-out "$work/$1-dev")
  for _ in $(seq "$dev_weight"); do args+=(--train "$work/$1-dev"); done
  "$rk" bench train-ranker --stage "$1" "${args[@]}" --out "$out" | tail -1
}
features files -o retrieval.ranker=rrf           # rows of the fused ranking
train files
features symbols -o "retrieval.ranker=$out"      # the definitions' rows under the learned file order
train symbols
