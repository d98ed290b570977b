#!/usr/bin/env bash
# Issue 16's long runs (ROAR, IteROAR on CIFAR-10) go on across working sessions through the
# ledger (scripts/ledger.py; only git survives from one session to the next). One command at
# each end of a session:
#
#   scripts/roar16_session.sh start    # set-up, restore from the ledger, start the jobs + autosave
#   scripts/roar16_session.sh pause    # before tests or timings on this 2-core machine ...
#   scripts/roar16_session.sh resume   # ... and after
#   scripts/roar16_session.sh end      # pause the jobs, session-end save, commit; jobs stay paused
#
# `start` runs the command of every run the ledger has one for (docs/results/ledger/roar16/
# <run>.cmd, restored to runs/roar16/<run>.cmd; a run stops being started when its .cmd says
# so, e.g. `exit 0  # done`, and a new run starts once its .cmd is committed) on a
# snapshot of src/ at HEAD (runs/roar16/snap, revision in snap/REVISION), so editing src/ while
# they run cannot reach them. `end` keeps the retrain in flight (resume.pt) and the masks of the
# IteROAR chain in flight; leave it 10 minutes before the session's limit. After `end` nothing
# is saved any more (the autosave is stopped), so a resumed job could not mix into the ledger.
set -eu
cd "$(dirname "$0")/.."
RUNS=runs/roar16
LEDGER=docs/results/ledger/roar16
PY=.venv/bin/python
running() { pgrep -f "attrbench (roar|iteroar) " || true; }

case "${1:-}" in
start)
  [ -x "$PY" ] || make venv
  if [ ! -d runs/data/cifar10-jpeg ]; then
    mkdir -p runs/data && tar -xf ../shared/data/cifar10/cifar10-jpeg.tar -C runs/data
  fi
  if [ -n "$(running)" ]; then echo "jobs already running: $(running | tr '\n' ' ')"; exit 1; fi
  rm -rf "$RUNS/snap" && mkdir -p "$RUNS/snap"
  git archive HEAD src | tar -x -C "$RUNS/snap" && git rev-parse HEAD > "$RUNS/snap/REVISION"
  for cmd in "$LEDGER"/*.cmd; do  # roar, iteroar, kar: each run the ledger has a command for
    r=$(basename "$cmd" .cmd)
    if [ -d "$LEDGER/$r" ]; then
      "$PY" scripts/ledger.py restore "$LEDGER/$r" "$RUNS/$r"
    else  # a run not started yet: only its command is in the ledger
      mkdir -p "$RUNS" && cp "$cmd" "$RUNS/$r.cmd"
    fi
    bash "$RUNS/$r.cmd"
  done
  sleep 5
  for p in $(running); do echo -10 > "/proc/$p/autogroup" || true; done  # ahead of interactive work
  if ! pgrep -f ledger_autosave.sh > /dev/null; then
    nohup setsid scripts/ledger_autosave.sh >> "$RUNS/ledger.log" 2>&1 &
  fi
  echo "started $(date +%T) at $(cat "$RUNS/snap/REVISION"): jobs $(running | tr '\n' ' ')"
  ;;
pause) [ -z "$(running)" ] || kill -STOP $(running) ;;
resume) [ -z "$(running)" ] || kill -CONT $(running) ;;
end)
  [ -z "$(running)" ] || kill -STOP $(running)
  pkill -f ledger_autosave.sh || true
  SESSION_END=1 ONCE=1 scripts/ledger_autosave.sh
  echo "session-end save done $(date +%T); the jobs are paused (the autosave is stopped)"
  ;;
*) echo "usage: $0 start|pause|resume|end"; exit 2 ;;
esac
