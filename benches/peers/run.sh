#!/usr/bin/env bash
# Side-by-side IMA replay: mr against evmctl (ima-evm-utils) and keylime, on the same generated
# lists, in one run. See README.md next to this script.
#
# usage: benches/peers/run.sh [SIZES] [RUNS] [WORKDIR]
#   SIZES    entry counts (default "10000 100000 1000000")
#   RUNS     timed runs per tool and size, median reported (default 5, at least 5 for the table)
#   WORKDIR  scratch directory for the lists and results (default ${TMPDIR:-/tmp}/mr-peers)
# env: MR_SHARED  the shared tree with tools/gen_ima_log.py and tools/keylime_replay.py (default ../shared)
#      MR_BIN     the mr binary (default: built here with `cargo build --release -p mr-cli`)
#      MR_REPLAY_CALL_BIN  mr's replay call timed alone, list in memory (default: built here,
#                 `cargo build --release --example replay_call`)
#      KL_PY      python of a venv with keylime (default $HOME/.venvs/keylime/bin/python)
#      GEN_ARGS   extra gen_ima_log.py arguments (e.g. "--violations 10 --buf-entries 100")
# Writes WORKDIR/results.md (markdown table) and prints it.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
SIZES="${1:-10000 100000 1000000}"
RUNS="${2:-5}"
WORK="${3:-${TMPDIR:-/tmp}/mr-peers}"
MR_SHARED="${MR_SHARED:-$REPO/../shared}"
KL_PY="${KL_PY:-$HOME/.venvs/keylime/bin/python}"
GEN="$MR_SHARED/tools/gen_ima_log.py"
KL="$MR_SHARED/tools/keylime_replay.py"
mkdir -p "$WORK"
[ -f "$GEN" ] || { echo "missing $GEN: set MR_SHARED" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time (apt-get install -y time)" >&2; exit 2; }

if [ -z "${MR_BIN:-}" ]; then
  echo "building mr (release) ..." >&2
  (cd "$REPO" && cargo build --quiet --release -p mr-cli)
  MR_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/mr"
fi
[ -x "$MR_BIN" ] || { echo "no mr binary at $MR_BIN" >&2; exit 2; }
if [ -z "${MR_REPLAY_CALL_BIN:-}" ]; then
  (cd "$REPO" && cargo build --quiet --release --example replay_call)
  MR_REPLAY_CALL_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/replay_call"
fi
[ -x "$MR_REPLAY_CALL_BIN" ] || { echo "no replay_call binary at $MR_REPLAY_CALL_BIN" >&2; exit 2; }

# Which peers are here: say so, never skip silently.
HAVE_EVMCTL=1 HAVE_KEYLIME=1
if ! command -v evmctl >/dev/null; then
  HAVE_EVMCTL=0; echo "PEER MISSING: evmctl (apt-get install -y ima-evm-utils): its rows are left out" >&2
fi
if ! [ -x "$KL_PY" ] || ! "$KL_PY" -c 'import keylime' 2>/dev/null || [ ! -f "$KL" ]; then
  HAVE_KEYLIME=0; echo "PEER MISSING: keylime (venv at $KL_PY, see benches/peers/README.md): its rows are left out" >&2
fi

median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

# timed CMD...: run under /usr/bin/time -v; prints "wall_s rss_kb rc cpu_s" (cpu = user + system);
# output kept in $WORK/last.out
timed() {
  local t0 t1 rc
  t0=$(date +%s%N)
  set +e; /usr/bin/time -v -o "$WORK/last.time" "$@" >"$WORK/last.out" 2>&1; rc=$?; set -e
  t1=$(date +%s%N)
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", (b-a)/1e9}') \
$(awk -F': ' '/Maximum resident set size/{print $2}' "$WORK/last.time") $rc \
$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.3f", u+s}' "$WORK/last.time")"
}

# expect_rc WANT LABEL CMD...: correctness control, outside the timed runs
expect_rc() {
  local want=$1 label=$2; shift 2
  set +e; "$@" >"$WORK/check.out" 2>&1; local rc=$?; set -e
  if { [ "$want" = 0 ] && [ "$rc" != 0 ]; } || { [ "$want" != 0 ] && [ "$rc" = 0 ]; }; then
    echo "CORRECTNESS FAILURE: $label exited $rc (wanted $([ "$want" = 0 ] && echo 0 || echo 'non-zero'))" >&2
    tail -5 "$WORK/check.out" >&2
    return 1
  fi
  echo "ok: $label (exit $rc)" >&2
}

# bench LABEL CMD...: RUNS timed runs; sets MED_S, MED_CPU, MED_RSS_MB, ALL_S; also KL_INNER for keylime
bench() {
  local label=$1; shift
  local walls=() rsss=() cpus=() inner=() w m rc c
  for ((r = 0; r < RUNS; r++)); do
    read -r w m rc c < <(timed "$@")
    if [ "$rc" != 0 ]; then
      echo "FAILED (exit $rc): $label" >&2; tail -5 "$WORK/last.out" >&2; exit 1
    fi
    walls+=("$w"); rsss+=("$m"); cpus+=("$c")
    if [[ $label == keylime* ]]; then
      inner+=("$(python3 -c "import json,sys;print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['runs'][0]['seconds'])" "$WORK/last.out")")
    fi
  done
  MED_S=$(printf "%s\n" "${walls[@]}" | median)
  MED_CPU=$(printf "%s\n" "${cpus[@]}" | median)
  MED_RSS_MB=$(printf "%s\n" "${rsss[@]}" | median | awk '{printf "%.1f", $1/1024}')
  ALL_S="${walls[*]}"
  KL_INNER=""
  if [ ${#inner[@]} -gt 0 ]; then KL_INNER=$(printf "%s\n" "${inner[@]}" | median); fi
  echo "  $label: median ${MED_S}s (cpu ${MED_CPU}s), RSS ${MED_RSS_MB} MB (runs: $ALL_S)${KL_INNER:+, replay call ${KL_INNER}s}" >&2
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.1f×", a/b; else print "–" }'; }

OUT="$WORK/results.md"
{
  echo "| entries | tool | input, banks | median wall | median CPU (user+sys) | peak RSS | vs mr, wall | vs mr, CPU |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|"
} >"$OUT"
row() { echo "| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $8 |" >>"$OUT"; }

for n in $SIZES; do
  d="$WORK/log_$n"
  if [ ! -f "$d/pcrs.json" ]; then
    echo "generating $n entries ..." >&2
    python3 "$GEN" -q -n "$n" -o "$d" ${GEN_ARGS:-}
  fi
  pv() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['pcr_values'][sys.argv[2]])" "$d/pcrs.json" "$1"; }
  S1=$(pv sha1); S256=$(pv sha256)
  viol=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['violations'])" "$d/pcrs.json")
  ev_flags=(); [ "$viol" != 0 ] && ev_flags=(--ignore-violations)
  # a wrong expected SHA-256 value: every tool must reject it (a fast wrong answer does not count)
  BAD256="$(printf '%s' "$S256" | cut -c1-63)$(printf '%s' "$S256" | cut -c64 | tr '0-9a-f' '1-9a-f0')"
  sed "s/^PCR-10: .*/PCR-10: $BAD256/" "$d/pcrs_sha256.txt" >"$d/bad_pcrs_sha256.txt"

  echo "== $n entries" >&2
  MR_BIN_ARGS=(ima replay "$d/binary_runtime_measurements" --expect "10:sha1:$S1" --expect "10:sha256:$S256")
  MR_ASCII_ARGS=(ima replay "$d/ascii_runtime_measurements" --bank sha256 --expect "10:sha256:$S256")
  expect_rc 0 "mr binary sha1+sha256" "$MR_BIN" "${MR_BIN_ARGS[@]}"
  expect_rc 1 "mr binary, wrong sha256 value rejected" "$MR_BIN" ima replay "$d/binary_runtime_measurements" --expect "10:sha1:$S1" --expect "10:sha256:$BAD256"
  expect_rc 0 "mr ascii sha256" "$MR_BIN" "${MR_ASCII_ARGS[@]}"
  expect_rc 1 "mr ascii, wrong sha256 value rejected" "$MR_BIN" ima replay "$d/ascii_runtime_measurements" --bank sha256 --expect "10:sha256:$BAD256"

  bench "mr binary sha1+sha256" "$MR_BIN" "${MR_BIN_ARGS[@]}"
  MR_S=$MED_S MR_C=$MED_CPU
  row "$n" "mr ima replay --expect" "binary, SHA-1 + SHA-256" "${MED_S} s" "${MED_CPU} s" "${MED_RSS_MB} MB" "1×" "1×"
  if [ $HAVE_EVMCTL = 1 ]; then
    EV=(evmctl ima_measurement "${ev_flags[@]}" --pcrs "sha1,$d/pcrs_sha1.txt" --pcrs "sha256,$d/pcrs_sha256.txt" "$d/binary_runtime_measurements")
    expect_rc 0 "evmctl sha1+sha256" "${EV[@]}"
    expect_rc 1 "evmctl, wrong sha256 value rejected" evmctl ima_measurement "${ev_flags[@]}" --pcrs "sha1,$d/pcrs_sha1.txt" --pcrs "sha256,$d/bad_pcrs_sha256.txt" "$d/binary_runtime_measurements"
    bench "evmctl sha1+sha256" "${EV[@]}"
    row "$n" "evmctl ima_measurement" "binary, SHA-1 + SHA-256" "${MED_S} s" "${MED_CPU} s" "${MED_RSS_MB} MB" "$(ratio "$MED_S" "$MR_S")" "$(ratio "$MED_CPU" "$MR_C")"
  else
    row "$n" "evmctl ima_measurement" "binary, SHA-1 + SHA-256" "missing" "" "" "" ""
  fi

  bench "mr ascii sha256" "$MR_BIN" "${MR_ASCII_ARGS[@]}"
  MR_A=$MED_S MR_AC=$MED_CPU
  row "$n" "mr ima replay --expect" "ASCII, SHA-256" "${MED_S} s" "${MED_CPU} s" "${MED_RSS_MB} MB" "1×" "1×"
  # mr's call alone, as keylime's call is timed: the list in memory, then ima::verify, timed.
  expect_rc 0 "mr replay call, ascii sha256" "$MR_REPLAY_CALL_BIN" "$d/ascii_runtime_measurements" "10:sha256:$S256"
  expect_rc 1 "mr replay call, wrong sha256 value rejected" "$MR_REPLAY_CALL_BIN" "$d/ascii_runtime_measurements" "10:sha256:$BAD256"
  calls=()
  for ((r = 0; r < RUNS; r++)); do
    calls+=("$("$MR_REPLAY_CALL_BIN" "$d/ascii_runtime_measurements" "10:sha256:$S256" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
  done
  MR_CALL=$(printf "%s\n" "${calls[@]}" | median)
  echo "  mr replay call: median ${MR_CALL}s (runs: ${calls[*]})" >&2
  if [ $HAVE_KEYLIME = 1 ]; then
    KLC=("$KL_PY" "$KL" "$d/ascii_runtime_measurements" --pcrs-json "$d/pcrs.json" --bank sha256 --policy none)
    expect_rc 0 "keylime sha256" "${KLC[@]}"
    expect_rc 1 "keylime, wrong sha256 value rejected" "$KL_PY" "$KL" "$d/ascii_runtime_measurements" --pcr-hex "$BAD256" --bank sha256 --policy none
    bench "keylime sha256" "${KLC[@]}"
    row "$n" "keylime process_measurement_list (call only)" "ASCII, SHA-256" "${KL_INNER} s" "" "" "$(ratio "$KL_INNER" "$MR_A")" "$(ratio "$KL_INNER" "$MR_AC")"
    row "$n" "mr replay call only (examples/replay_call, list in memory)" "ASCII, SHA-256" "${MR_CALL} s" "" "" "keylime call / mr call: $(ratio "$KL_INNER" "$MR_CALL")" ""
    row "$n" "keylime, whole process" "ASCII, SHA-256" "${MED_S} s" "${MED_CPU} s" "${MED_RSS_MB} MB" "$(ratio "$MED_S" "$MR_A")" "$(ratio "$MED_CPU" "$MR_AC")"
  else
    row "$n" "keylime process_measurement_list" "ASCII, SHA-256" "missing" "" "" "" ""
  fi
done

{
  echo
  echo "Medians of $RUNS runs (wall clock around \`/usr/bin/time -v\`, which gives the peak RSS);"
  echo "ratios are peer / mr on the same input and banks, measured in this run. CPU time (user + system)"
  echo "is less disturbed by other load than wall time; keylime's replay call is timed inside Python"
  echo "(wall), so its CPU ratio compares that call with mr's whole process."
  echo "Lists: \`gen_ima_log.py -n N ${GEN_ARGS:-}\` (ima-ng, SHA-256 file digests, PCR 10)."
  echo "Every tool accepted each list (exit 0) and rejected a wrong SHA-256 PCR 10 value before timing."
} >>"$OUT"
echo >&2
cat "$OUT"
