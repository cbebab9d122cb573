#!/usr/bin/env bash
# Makes the certificates of this directory with OpenSSL 3 (run it here; keys are thrown away).
# They cover the certificate signature algorithms of mr_tpm::cert that the public vectors do
# not: RSA PKCS#1 v1.5 with SHA-256/384/512, RSASSA-PSS with SHA-512, RSASSA-PSS whose MGF1
# hash differs from the message hash (refused), and ECDSA with SHA-512 (unsupported).
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=36500
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/root.key"
openssl req -x509 -new -key "$tmp/root.key" -sha256 -days $days -subj "/CN=mr test RSA Root CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
  -out root-rsa-sha256.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/leaf.key"
leaf() { # name subject digest [sigopt...]
  local name=$1 subj=$2 md=$3
  shift 3
  openssl req -new -key "$tmp/leaf.key" -subj "$subj" -out "$tmp/$name.csr"
  openssl x509 -req -in "$tmp/$name.csr" -CA root-rsa-sha256.pem -CAkey "$tmp/root.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days $days "-$md" "$@" -out "$name.pem"
}
leaf leaf-rsa-sha384 "/CN=mr test RSA SHA-384 leaf" sha384
leaf leaf-rsa-sha512 "/CN=mr test RSA SHA-512 leaf" sha512
leaf leaf-pss-sha512 "/CN=mr test RSASSA-PSS SHA-512 leaf" sha512 \
  -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:64 -sigopt rsa_mgf1_md:sha512
leaf leaf-pss-sha256-mgf1-sha1 "/CN=mr test RSASSA-PSS MGF1-SHA-1 leaf" sha256 \
  -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha1
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ec.key"
openssl req -x509 -new -key "$tmp/ec.key" -sha512 -days $days -subj "/CN=mr test ECDSA SHA-512" \
  -out self-ecdsa-sha512.pem
