#!/usr/bin/env bash
# The workshop loop, measured end to end (issue 14): from `R` to the new payment pod serving,
# after a one-line fix to demo-services/payment/src/payment.rs, on the real Docker runtime.
#
# `faultline rebuild payment` runs the very code path of the dashboard's `R` (compile only
# payment's binaries, pack only its images, recreate the container, wait for its health
# check) and prints each stage's time as JSON. This script applies the fix, rebuilds, undoes
# it, rebuilds again, RUNS times, and prints every run and the median. It runs under its own
# project (fl-workshop, host ports +400), so a demo on the default project is not touched;
# payment.rs is restored and the project removed at the end, whatever happens.
#
#   scripts/workshop-loop.sh            # RUNS=3 by default
#   RUNS=5 scripts/workshop-loop.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
PROJECT=${PROJECT:-fl-workshop}
OFFSET=${OFFSET:-400}
FILE=demo-services/payment/src/payment.rs
BUG='    let cents = (value.fract() * currency.scale() as f64) as i64;'
FIX='    let cents = (value.fract() * currency.scale() as f64).round() as i64;'

grep -qF "$BUG" "$FILE" || { echo "$FILE does not hold the shipped bug line; restore it: git checkout $FILE" >&2; exit 1; }
backup=$(mktemp)
errors=$(mktemp)
cp "$FILE" "$backup"
FL=("${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/faultline" --runtime docker --project "$PROJECT" --port-offset "$OFFSET")
restore() {
  cp "$backup" "$FILE" && rm -f "$backup" "$errors"
  [ -x "${FL[0]}" ] && "${FL[@]}" down --volumes >/dev/null 2>&1 || true
}
trap restore EXIT

echo "== building faultline and the images (not timed)" >&2
cargo build --release --quiet
"${FL[@]}" images >/dev/null
"${FL[@]}" rebuild payment --json >/dev/null   # the pod up on the current build

swap() { python3 - "$FILE" "$1" "$2" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
assert text.count(old) == 1, f"{path}: expected the line once: {old!r}"
open(path, "w").write(text.replace(old, new))
PY
}

results=()
for i in $(seq 1 "$RUNS"); do
  if (( i % 2 )); then swap "$BUG" "$FIX"; what=fix; else swap "$FIX" "$BUG"; what=undo; fi
  line=$("${FL[@]}" rebuild payment --json 2>"$errors") || { echo "run $i failed:" >&2; cat "$errors" >&2; exit 1; }
  echo "run $i ($what): $line"
  results+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total_ms"])' "$line")")
done
printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "median key press -> serving: %.1f s over %d runs (min %.1f s, max %.1f s)\n", m/1000, NR, a[1]/1000, a[NR]/1000}'
