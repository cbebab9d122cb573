#!/usr/bin/env bash
# Seed fuzz/corpus/<target> from the shared real-world vectors and freshly generated IMA lists.
# Copies at run time (the corpus directory is not committed; never commit copies of the shared
# vectors). Idempotent: existing corpus entries are kept.
#
# usage: fuzz/seed.sh [TARGET...]   (default: every target)
# env:   MR_SHARED  the shared tree (default ../shared next to the repository)
set -euo pipefail
FUZZ="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$FUZZ")"
MR_SHARED="${MR_SHARED:-$REPO/../shared}"
V="$MR_SHARED/vectors"
[ -d "$V" ] || { echo "no vectors at $V: set MR_SHARED" >&2; exit 2; }
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(ima_binary ima_ascii tcg tpm_attest td_quote register_value tpm_verify td_quote_verify cel virtual_journal hcl_report runtime_policy)
GEN_TMP="$(mktemp -d)"
trap 'rm -rf "$GEN_TMP"' EXIT

# put TARGET FILE...: copy files (at most 1 MiB each) into the target's corpus as seed-<name>
put() {
  local t=$1; shift
  mkdir -p "$FUZZ/corpus/$t"
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    [ "$(stat -c %s "$f")" -le 1048576 ] || continue
    cp "$f" "$FUZZ/corpus/$t/seed-$(echo "${f#"$V"/}" | tr '/' '_')"
  done
}
# decode TARGET FILE...: every hex or base64 string inside JSON/text files, decoded (TPM blobs)
decode() {
  local t=$1; shift
  mkdir -p "$FUZZ/corpus/$t"
  python3 - "$FUZZ/corpus/$t" "$@" <<'PY'
import base64, binascii, json, re, sys, hashlib, os
out = sys.argv[1]
def emit(b):
    if 8 <= len(b) <= 1 << 20:
        open(os.path.join(out, "seed-dec-" + hashlib.sha1(b).hexdigest()[:16]), "wb").write(b)
for path in sys.argv[2:]:
    text = open(path, errors="replace").read()
    try:  # a whole file of (wrapped) base64
        emit(base64.b64decode("".join(text.split()), validate=True))
    except (binascii.Error, ValueError):
        pass
    for s in re.findall(r'"([^"]{16,})"', text) + re.findall(r'^([A-Za-z0-9+/=]{16,})$', text, re.M):
        s = s.strip()
        try:
            emit(binascii.unhexlify(s)); continue
        except (binascii.Error, ValueError):
            pass
        try:
            emit(base64.b64decode(s, validate=True))
        except (binascii.Error, ValueError):
            pass
PY
}
# gen DIR ARGS...: a small list from the shared generator
gen() {
  local d="$GEN_TMP/$1"; shift
  python3 "$MR_SHARED/tools/gen_ima_log.py" -q -o "$d" "$@"
}
# hexbin TARGET NAME HEX: a seed written from hex
hexbin() {
  mkdir -p "$FUZZ/corpus/$1"
  printf '%s' "$3" | xxd -r -p >"$FUZZ/corpus/$1/seed-$2"
}

for t in "${TARGETS[@]}"; do
  case $t in
    ima_binary | ima_ascii)
      gen ng -n 6
      gen viol -n 12 --violations 2 --buf-entries 2
      gen sig -n 6 --template ima-sig --file-hash sha1
      gen be -n 6 --endian big --file-hash sha512
      gen perbank -n 6 --per-bank-lists --banks sha1,sha256,sha384
      if [ "$t" = ima_binary ]; then
        put "$t" "$V"/ima/*/*.bin "$V"/ima/ibmtss/*.log "$REPO"/examples/ima/binary_runtime_measurements \
          "$GEN_TMP"/*/binary_runtime_measurements*
      else
        put "$t" "$V"/ima/*/*ascii* "$V"/ima/global-trust-authority/ima.log "$GEN_TMP"/*/ascii_runtime_measurements*
      fi
      rm -rf "${GEN_TMP:?}"/* ;;
    tcg)
      put tcg "$V"/tcg2/*/*.bin "$V"/tcg2/go-attestation/*_eventlog "$V"/tcg2/keylime/binary_bios_measurements* \
        "$V"/tcg2/rust-keylime/*.bin "$V"/ccel/*/*.bin "$V"/ima/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9 ;;
    td_quote)
      put td_quote "$V"/tdx/dcap-qvl/tdx_quote "$V"/tdx/dcap-qvl/tdx_quote_outdated "$V"/tdx/dcap-qvl/sgx_quote
      for h in "$V"/tdx/dcap-qvl/*.hex; do
        tr -d ' \n' <"$h" | xxd -r -p >"$FUZZ/corpus/td_quote/seed-$(basename "$h").bin"
      done ;;
    tpm_attest)
      decode tpm_attest "$V"/tpmquote/*/*.json "$V"/tpmquote/*/*.txt ;;
    register_value)
      mkdir -p "$FUZZ/corpus/register_value"
      python3 - "$FUZZ/corpus/register_value" "$V"/ima/ibmtss/EXPECTED.json <<'PY'
import json, sys, os
out = sys.argv[1]
seeds = ["10:sha256:" + "ab" * 32, "pcr10:sha1:" + "00" * 20, "rtmr2:sha384:" + "ff" * 48,
         "mrtd:sha384:" + "01" * 48, "mr_ima:sha256:" + "02" * 32, "23:sm3_256:" + "03" * 32]
for i, s in enumerate(seeds):
    open(os.path.join(out, f"seed-{i}"), "w").write(s)
PY
      ;;
    tpm_verify)
      # first byte: what the rest edits (see fuzz_targets/tpm_verify.rs); a few small edits each
      for m in 00 01 02 03 04 05 06; do hexbin tpm_verify "m$m" "${m}00000001"; done
      hexbin tpm_verify m02-magic "0200000001"
      hexbin tpm_verify m03-s "0300500001" ;;
    td_quote_verify)
      for m in 00 01 02 03 04 05; do hexbin td_quote_verify "m$m" "${m}00300001"; done
      hexbin td_quote_verify body "0000a00020"
      hexbin td_quote_verify siglen "03030004060300ff"
      # whole quotes (mode 9..11: the input replaces the quote)
      for q in "$V"/tdx/dcap-qvl/tdx_quote; do
        { printf '\x09'; cat "$q"; } >"$FUZZ/corpus/td_quote_verify/seed-raw-$(basename "$q")"
      done ;;
    cel)
      put cel "$V"/cel/libcel/*.json
      decode cel "$V"/cel/go-tpm-tools/cel.b64 ;;
    virtual_journal) mkdir -p "$FUZZ/corpus/virtual_journal" ;;
    hcl_report)
      # the repository's own HCL reports and trustee evidence (crates/mr-vtpm/tests/data)
      put hcl_report "$REPO"/crates/mr-vtpm/tests/data/azure-cvm-tooling/*.bin \
        "$REPO"/crates/mr-vtpm/tests/data/trustee/az-*-vtpm/evidence-*.json ;;
    runtime_policy)
      # the first byte picks the reader (see fuzz_targets/runtime_policy.rs): 0 plain policy,
      # 1 envelope, 2 signed payload, 3 deny list; policies from mr-policy's tests
      d="$FUZZ/corpus/runtime_policy"; mkdir -p "$d"
      small="$REPO/crates/mr-policy/tests/data/policies/runtime.json"
      for m in 00 01 02; do { printf "\x$m"; cat "$small"; } >"$d/seed-runtime-$m"; done
      full='{"meta":{"version":1,"generator":1,"timestamp":"t"},"release":2,"digests":{"/bin/sh":["'"$(printf 'ab%.0s' {1..32})"'","'"$(printf '01%.0s' {1..20})"'"]},"excludes":["/tmp/.*","/var/(log|cache)"],"keyrings":{".ima":["'"$(printf 'cd%.0s' {1..32})"'"]},"ima":{"ignored_keyrings":[".builtin_trusted_keys"],"log_hash_alg":"sha256","dm_policy":null},"ima-buf":{"kernel_version":["'"$(printf 'ef%.0s' {1..32})"'"]},"verification-keys":""}'
      for m in 00 02; do { printf "\x$m"; printf '%s' "$full"; } >"$d/seed-full-$m"; done
      { printf '\x01'; printf '{"payload":"e30=","payloadType":"application/vnd.keylime+json","signatures":[{"keyid":"k","sig":"AAAA"}]}'; } >"$d/seed-envelope"
      { printf '\x03'; printf '%s\n# comment\n%s\n' "$(printf 'ab%.0s' {1..32})" "$(printf '01%.0s' {1..20})"; } >"$d/seed-deny" ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
  echo "$t: $(ls "$FUZZ/corpus/$t" | wc -l) corpus entries" >&2
done
