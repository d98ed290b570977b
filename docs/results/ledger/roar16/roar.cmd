cd /work/main && OMP_NUM_THREADS=1 PYTHONPATH=runs/roar16/snap6/src nohup setsid .venv/bin/attrbench roar --preset cifar --data-root runs/data --no-report --out runs/roar16/roar >> runs/roar16/roar.log 2>&1 &
# runs/roar16/snap6/src = `git archive 8d1b088 src` (session 6), so edits to src/ cannot reach the running job
