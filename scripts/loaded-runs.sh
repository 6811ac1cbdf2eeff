#!/usr/bin/env bash
# Flakiness check: N consecutive full-suite runs (default 10) while a busy loop burns one core
# beside them, as on a shared CI machine. Prints one line per run (pass/FAIL, seconds, load) and
# keeps each run's output in /tmp/loaded-<i>.log. Usage: bash scripts/loaded-runs.sh [N]
set -u
cd "$(dirname "$0")/.."
N=${1:-10}
node -e 'for(;;){}' &
BURN=$!
trap 'kill $BURN' EXIT
failed=0
for i in $(seq 1 "$N"); do
  start=$(date +%s)
  if npx vitest run > "/tmp/loaded-$i.log" 2>&1; then result=pass; else result=FAIL; failed=1; fi
  echo "run $i: $result $(( $(date +%s) - start ))s load=$(cut -d' ' -f1-3 /proc/loadavg) $(grep -E 'Tests +[0-9]' "/tmp/loaded-$i.log" | tr -s ' ')"
done
exit $failed
