#!/usr/bin/env bash
# Installs what mr's tests need on a fresh Debian machine with Rust, if it is missing:
# swtpm (TPM tests), libtss2-dev + pkg-config (tss-esapi, the `device` feature),
# python3 (the shared IMA list generator used as a cross-check), GNU time (RSS checks).
set -euo pipefail
missing=()
command -v swtpm >/dev/null 2>&1 || missing+=(swtpm swtpm-tools)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists tss2-esys 2>/dev/null || missing+=(libtss2-dev)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# keylime 7.14.3 in a virtual environment: the reference for mr-policy's differential tests
# (crates/mr-policy/tests/keylime_differential.rs finds it here, or in $MR_KEYLIME_VENV).
KEYLIME_VENV="${MR_KEYLIME_VENV:-$HOME/.cache/mr/keylime-venv}"
# The main job (scripts/demo.sh) does not need it and sets MR_SKIP_KEYLIME=1.
if [ -z "${MR_SKIP_KEYLIME:-}" ] && [ "$("$KEYLIME_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("keylime"))' 2>/dev/null)" != "7.14.3" ]; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
  fi
  echo "install-deps: installing keylime 7.14.3 into $KEYLIME_VENV" >&2
  mkdir -p "$(dirname "$KEYLIME_VENV")"
  python3 -m venv "$KEYLIME_VENV"
  "$KEYLIME_VENV/bin/pip" install -q keylime==7.14.3 jsonschema pyyaml cryptography lark packaging
fi
