#!/usr/bin/env bash
# Side-by-side IMA appraisal: `mr ima appraise` against keylime's process_measurement_list with
# the same runtime policy (all the list's paths) on the same generated ASCII list. Two
# comparisons: the whole processes, and the evaluation calls alone (keylime_appraise.py and mr's
# `appraise_call` example both load the policy and read the list before the clock starts).
#
# usage: benches/peers/appraise.sh [ENTRIES] [RUNS] [WORKDIR]
#   ENTRIES  list length (default 100000); RUNS timed runs, median reported (default 5)
# env: MR_SHARED (tools/gen_ima_log.py), MR_BIN (default: release build), MR_KEYLIME_VENV
#      (default $HOME/.cache/mr/keylime-venv, installed by scripts/install-deps.sh)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
N="${1:-100000}"
RUNS="${2:-5}"
WORK="${3:-${TMPDIR:-/tmp}/mr-peers-appraise}"
MR_SHARED="${MR_SHARED:-$REPO/../shared}"
KL_PY="${MR_KEYLIME_VENV:-$HOME/.cache/mr/keylime-venv}/bin/python"
mkdir -p "$WORK"
if [ -z "${MR_BIN:-}" ]; then
  (cd "$REPO" && cargo build --quiet --release -p mr-cli)
  MR_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/mr"
fi
if [ -z "${MR_CALL_BIN:-}" ]; then
  (cd "$REPO" && cargo build --quiet --release -p mr-policy --example appraise_call)
  MR_CALL_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/appraise_call"
fi
[ -x "$KL_PY" ] || { echo "PEER MISSING: keylime venv at $KL_PY (scripts/install-deps.sh)" >&2; exit 2; }
python3 "$MR_SHARED/tools/gen_ima_log.py" -n "$N" -o "$WORK/list" -q ${GEN_ARGS:-}
LIST="$WORK/list/ascii_runtime_measurements"
"$MR_BIN" policy create --ima-list "$LIST" -o "$WORK/policy.json"

median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
timed() { # prints "wall_s rss_kb rc"
  local t0 t1 rc
  t0=$(date +%s%N)
  set +e; /usr/bin/time -v -o "$WORK/last.time" "$@" >"$WORK/last.out" 2>&1; rc=$?; set -e
  t1=$(date +%s%N)
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", (b-a)/1e9}') $(awk -F': ' '/Maximum resident set size/{print $2}' "$WORK/last.time") $rc"
}

# Correctness first: both allow the list; both reject it once one path's digest is changed.
"$MR_BIN" ima appraise "$LIST" --runtime-policy "$WORK/policy.json" >/dev/null
"$MR_CALL_BIN" "$LIST" "$WORK/policy.json" >/dev/null
"$KL_PY" "$REPO/benches/peers/keylime_appraise.py" "$LIST" "$WORK/policy.json" >/dev/null
python3 - "$WORK/policy.json" "$WORK/tampered.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
k = next(k for k in p["digests"] if k != "boot_aggregate")
p["digests"][k] = ["00" * 32]
json.dump(p, open(sys.argv[2], "w"))
PY
if "$MR_BIN" ima appraise "$LIST" --runtime-policy "$WORK/tampered.json" >/dev/null; then echo "mr accepted a tampered policy" >&2; exit 1; fi
if "$MR_CALL_BIN" "$LIST" "$WORK/tampered.json" >/dev/null; then echo "mr's call accepted a tampered policy" >&2; exit 1; fi
if "$KL_PY" "$REPO/benches/peers/keylime_appraise.py" "$LIST" "$WORK/tampered.json" >/dev/null; then echo "keylime accepted a tampered policy" >&2; exit 1; fi

: >"$WORK/mr.txt"; : >"$WORK/kl.txt"; : >"$WORK/klcall.txt"; : >"$WORK/mrcall.txt"
for _ in $(seq "$RUNS"); do
  timed "$MR_BIN" ima appraise "$LIST" --runtime-policy "$WORK/policy.json" >>"$WORK/mr.txt"
  timed "$KL_PY" "$REPO/benches/peers/keylime_appraise.py" "$LIST" "$WORK/policy.json" >>"$WORK/kl.txt"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$WORK/last.out" >>"$WORK/klcall.txt"
  "$MR_CALL_BIN" "$LIST" "$WORK/policy.json" >"$WORK/last.out"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$WORK/last.out" >>"$WORK/mrcall.txt"
done
MR_S=$(awk '{print $1}' "$WORK/mr.txt" | median); MR_RSS=$(awk '{print $2}' "$WORK/mr.txt" | median)
KL_S=$(awk '{print $1}' "$WORK/kl.txt" | median); KL_RSS=$(awk '{print $2}' "$WORK/kl.txt" | median)
KLC_S=$(median <"$WORK/klcall.txt")
MRC_S=$(median <"$WORK/mrcall.txt")
POLICY_KB=$(( $(stat -c %s "$WORK/policy.json") / 1024 ))
{
  echo "| $N entries, policy ${POLICY_KB} KiB | median wall (s) | peak RSS (KiB) | ratio to mr |"
  echo "|---|---|---|---|"
  echo "| mr ima appraise (whole process) | $MR_S | $MR_RSS | 1 |"
  echo "| keylime process_measurement_list (call only) | $KLC_S | | $(awk -v a="$KLC_S" -v b="$MR_S" 'BEGIN{printf "%.1f", a/b}') |"
  echo "| mr appraise_input (call only, as mr ima appraise calls it) | $MRC_S | | |"
  echo "| keylime call / mr call | | | $(awk -v a="$KLC_S" -v b="$MRC_S" 'BEGIN{printf "%.1f", a/b}') |"
  echo "| keylime (whole process) | $KL_S | $KL_RSS | $(awk -v a="$KL_S" -v b="$MR_S" 'BEGIN{printf "%.1f", a/b}') |"
} | tee "$WORK/results.md"
