#!/usr/bin/env bash
# The whole test suite: installs what it needs, then formatting, lints and every test.
# Tests that read real vectors use MR_SHARED (default: ../shared beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export MR_SHARED="${MR_SHARED:-$(cd .. && pwd)/shared}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# Every intra-doc link must resolve (the docs a library user reads).
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features
cargo test --workspace --all-features
# --all-features verifies with the ring provider; the default RustCrypto provider runs the
# crates that verify signatures once more.
cargo test -p mr-crypto -p mr-tpm -p mr-rtmr -p mr-policy
