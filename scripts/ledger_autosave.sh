#!/usr/bin/env bash
# Keep the ledger of long runs committed while they run (issue 16; see scripts/ledger.py).
#
# Every INTERVAL seconds (default 600): `scripts/ledger.py save` for each run folder under
# RUNS (default runs/roar16: roar, kar, iteroar), then commit docs/results/ledger alone on top of
# whatever HEAD is, through a private index and a compare-and-swap on the branch (git update-ref
# NEW OLD), so it never races a commit made meanwhile; then the main index follows for the ledger
# paths, so a plain `git commit` never drops them. Start it beside the jobs:
#
#     nohup setsid scripts/ledger_autosave.sh >> runs/roar16/ledger.log 2>&1 &
#
# Only the ledger paths are committed; nothing else in the working tree is touched.
set -u
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/roar16}
LEDGER=${LEDGER:-docs/results/ledger/roar16}
INTERVAL=${INTERVAL:-600}
ONCE=${ONCE:-}            # non-empty: one round, then exit (tests)
# SESSION_END non-empty: a session-end save (scripts/ledger.py save --session-end; IteROAR with
# --masks-of auto), so the next session goes on with the retrain and the chain in flight. Pause
# the jobs first, make it the last save (with ONCE=1), and stop the loop:
#     kill -STOP $(pgrep -f "attrbench (roar|iteroar)"); pkill -f ledger_autosave.sh
#     SESSION_END=1 ONCE=1 scripts/ledger_autosave.sh
SESSION_END=${SESSION_END:-}
PY=${PY:-.venv/bin/python}
branch=$(git symbolic-ref -q HEAD) || { echo "ledger_autosave: HEAD is detached"; exit 1; }
while true; do
  for r in roar iteroar kar; do
    end=()
    [ -n "$SESSION_END" ] && end=(--session-end)
    [ -n "$SESSION_END" ] && [ "$r" = iteroar ] && end+=(--masks-of auto)
    [ -f "$RUNS/$r/config.json" ] && "$PY" scripts/ledger.py save "${end[@]}" "$RUNS/$r" "$LEDGER/$r"
  done
  parent=$(git rev-parse HEAD)
  index=$(mktemp)
  GIT_INDEX_FILE=$index git read-tree "$parent" && GIT_INDEX_FILE=$index git add -f "$LEDGER"
  tree=$(GIT_INDEX_FILE=$index git write-tree)
  rm -f "$index"
  if [ "$tree" != "$(git rev-parse "$parent^{tree}")" ]; then
    rows=$(find "$LEDGER" -path '*/tables/accuracy/*.parquet' | wc -l)
    c=$(git commit-tree "$tree" -p "$parent" \
          -m "ledger: ROAR / IteROAR results so far ($rows accuracy rows), saved by scripts/ledger_autosave.sh")
    if git update-ref "$branch" "$c" "$parent"; then
      echo "$(date +%T) committed $c"
    else
      echo "$(date +%T) HEAD moved meanwhile; next round"
    fi
  fi
  git reset -q -- "$LEDGER" 2>/dev/null || true
  [ -n "$ONCE" ] && exit 0
  sleep "$INTERVAL"
done
