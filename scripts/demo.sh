#!/usr/bin/env bash
# The main job: mr's whole flow on simulated devices, in seconds, on a fresh Debian machine with
# Rust. Installs swtpm and libtss2 if missing (scripts/install-deps.sh), then runs `mr demo`:
# one generated IMA list verified under a TPM root (a real swtpm's PCR 10, quoted) and under a
# TD root (mr_ima journalled over a simulated TD's RTMR3, TD quote), then one tampered entry
# rejected under both. Extra arguments go to `mr demo` (e.g. --json).
set -euo pipefail
cd "$(dirname "$0")/.."
MR_SKIP_KEYLIME=1 scripts/install-deps.sh
exec cargo run --release -p mr-cli --features demo -- demo "$@"
