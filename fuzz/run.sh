#!/usr/bin/env bash
# Run fuzz targets ONE AT A TIME for a bounded time each, at the lowest CPU priority, and
# summarise executions per target. Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`).
#
# usage: fuzz/run.sh [SECONDS] [RUNS] [TARGET...]
#   SECONDS  wall-clock cap per target (default 600)
#   RUNS     execution cap per target (default 10000000)
#   TARGET   default: every [[bin]] in fuzz/Cargo.toml
# env: MR_SHARED (for seed.sh), SANITIZER (default none: mr and its parsers are safe Rust, and
#      without AddressSanitizer the targets run several times faster; use `address` for the
#      unsafe code inside dependencies), JOBS_NICE (default 19), MAX_LEN (libFuzzer -max_len,
#      default 65536; the IMA targets reach 10M executions in time with 4096)
# Writes fuzz/artifacts/summary.tsv (target, execs, seconds, execs/s, corpus size, crashes) and
# leaves crash inputs in fuzz/artifacts/<target>/.
set -euo pipefail
FUZZ="$(cd "$(dirname "$0")" && pwd)"
cd "$FUZZ"
SECS="${1:-600}"
RUNS="${2:-10000000}"
shift $(( $# > 2 ? 2 : $# ))
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(awk -F'"' '/^name = / && NR > 1 && $2 != "mr-fuzz" {print $2}' Cargo.toml)
fi
SAN="${SANITIZER:-none}"
"$FUZZ/seed.sh" "${TARGETS[@]}"
nice -n "${JOBS_NICE:-19}" cargo +nightly fuzz build -O -s "$SAN" 2>&1 | tail -1
BIN="$FUZZ/target/x86_64-unknown-linux-gnu/release"
mkdir -p artifacts
SUM="$FUZZ/artifacts/summary.tsv"
[ -f "$SUM" ] || printf 'target\texecs\tseconds\texecs_per_s\tcorpus\tcrashes\tsanitizer\tdate\n' >"$SUM"
for t in "${TARGETS[@]}"; do
  [ -x "$BIN/$t" ] || nice -n "${JOBS_NICE:-19}" cargo +nightly fuzz build -O -s "$SAN" "$t"
  mkdir -p "artifacts/$t" "corpus/$t"
  log="artifacts/$t/last-run.log"
  before=$(ls "artifacts/$t" | grep -c -E '^(crash|oom|timeout|leak)-' || true)
  t0=$(date +%s)
  set +e
  nice -n "${JOBS_NICE:-19}" "$BIN/$t" "corpus/$t" -runs="$RUNS" -max_total_time="$SECS" -max_len="${MAX_LEN:-65536}" \
    -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  t1=$(date +%s)
  execs=$(awk '/stat::number_of_executed_units/{print $2}' "$log" | tail -1)
  after=$(ls "artifacts/$t" | grep -c -E '^(crash|oom|timeout|leak)-' || true)
  secs=$((t1 - t0)); [ "$secs" -gt 0 ] || secs=1
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${execs:-?}" "$secs" "$(( ${execs:-0} / secs ))" \
    "$(ls "corpus/$t" | wc -l)" "$((after - before))" "$SAN" "$(date -u +%FT%TZ)" | tee -a "$SUM"
  if [ "$rc" != 0 ]; then echo "$t: exit $rc, see fuzz/$log" >&2; fi
done
