cd /work/main && OMP_NUM_THREADS=1 PYTHONPATH=runs/roar16/snap/src nohup setsid .venv/bin/attrbench roar --preset cifar --order variant --data-root runs/data --no-report --out runs/roar16/roar >> runs/roar16/roar.log 2>&1 &
# --order variant (session 7): each estimator's maps once per stretch, not once per threshold per session; the rows are the same.
# runs/roar16/snap/src = `git archive HEAD src` made by scripts/roar16_session.sh start (revision in runs/roar16/snap/REVISION), so edits to src/ cannot reach the running job
