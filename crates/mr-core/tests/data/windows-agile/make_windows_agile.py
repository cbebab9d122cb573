#!/usr/bin/env python3
"""Build a crypto-agile log in the shape of a Windows boot log from the real Windows log of
go-attestation (`../go-attestation/windows_gcp_shielded_vm.json`, a SHA-1 log of a Windows
Shielded VM on GCE), and replay it independently of mr.

Shape (what Windows logs do, issue 18 of mr): the Spec ID event declares SHA-1 and SHA-256; the
firmware's records carry both digests; the records of PCRs 11-14 (logged by the Windows boot
manager) carry a SHA-256 digest only (digestCount 1).

Digests: each record's SHA-1 digest is the one recorded in the source log. Its SHA-256 digest
hashes the same bytes the SHA-1 digest hashes when that is (part of) the event data (the whole
data, the VariableData of a UEFI variable, or all but the last byte), else the event data.

Outputs (next to this script): `windows_gcp_agile.bin` (the log) and
`windows_gcp_agile.expected.json`: the PCR values this script's own replay gives, per bank,
for every PCR the log extends, and which PCR/bank pairs skip records. The SHA-1 values of the
PCRs whose records all carry SHA-1 are checked here against the PCR values stored in the
source file.

Usage: python3 make_windows_agile.py
"""
import base64
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "go-attestation", "windows_gcp_shielded_vm.json")
SHA1, SHA256 = 0x0004, 0x000B
SHA256_ONLY_PCRS = {11, 12, 13, 14}
EV_NO_ACTION = 3
EV_EFI_VARIABLE_BOOT = 0x80000002
EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
EV_EFI_VARIABLE_AUTHORITY = 0x800000E0


def legacy_records(raw):
    off = 0
    while off < len(raw):
        pcr, typ = struct.unpack_from("<II", raw, off)
        digest = raw[off + 8 : off + 28]
        size = struct.unpack_from("<I", raw, off + 28)[0]
        data = raw[off + 32 : off + 32 + size]
        assert len(data) == size, "truncated source log"
        yield pcr, typ, digest, data
        off += 32 + size


def variable_value(data):
    name_units, data_len = struct.unpack_from("<QQ", data, 16)
    start = 32 + 2 * name_units
    return data[start : start + data_len]


def hashed_bytes(typ, sha1, data):
    """The bytes the recorded SHA-1 digest hashes, among the forms real logs use."""
    candidates = [data]
    if typ in (EV_EFI_VARIABLE_BOOT, EV_EFI_VARIABLE_DRIVER_CONFIG):
        candidates.append(variable_value(data))
    if typ == EV_EFI_VARIABLE_AUTHORITY:
        candidates.append(data[:-1])
    for c in candidates:
        if hashlib.sha1(c).digest() == sha1:
            return c
    return data


def spec_id_record():
    algs = [(SHA1, 20), (SHA256, 32)]
    body = b"Spec ID Event03\0" + struct.pack("<I4BI", 0, 0, 2, 0, 2, len(algs))
    for alg, size in algs:
        body += struct.pack("<HH", alg, size)
    body += b"\0"  # vendorInfoSize
    return struct.pack("<II", 0, EV_NO_ACTION) + bytes(20) + struct.pack("<I", len(body)) + body


def main():
    src = json.load(open(SOURCE))
    raw = base64.b64decode(src["Log"]["Raw"])
    out = bytearray(spec_id_record())
    pcrs = {}  # (pcr, bank) -> value
    extended = {}  # pcr -> records
    missing = {}  # (pcr, bank) -> [records without the bank]
    record = 1
    for pcr, typ, sha1, data in legacy_records(raw):
        sha256 = hashlib.sha256(hashed_bytes(typ, sha1, data)).digest()
        digests = [(SHA256, sha256)] if pcr in SHA256_ONLY_PCRS else [(SHA1, sha1), (SHA256, sha256)]
        out += struct.pack("<III", pcr, typ, len(digests))
        for alg, d in digests:
            out += struct.pack("<H", alg) + d
        out += struct.pack("<I", len(data)) + data
        if typ != EV_NO_ACTION:
            extended[pcr] = extended.get(pcr, 0) + 1
            present = {alg for alg, _ in digests}
            for alg, name, h in ((SHA1, "sha1", hashlib.sha1), (SHA256, "sha256", hashlib.sha256)):
                if alg not in present:
                    missing.setdefault((pcr, name), []).append(record)
                    continue
                d = dict(digests)[alg]
                start = bytes(h().digest_size) if not 17 <= pcr <= 22 else b"\xff" * h().digest_size
                pcrs[(pcr, name)] = h(pcrs.get((pcr, name), start) + d).digest()
        record += 1

    # The SHA-1 bank of the PCRs whose records all carry SHA-1 must give the PCR values stored
    # in the source file (a check of this replay against the machine's TPM).
    stored = {p["Index"]: base64.b64decode(p["Digest"]) for p in src["Log"]["PCRs"]}
    for (pcr, bank), value in pcrs.items():
        if bank == "sha1" and (pcr, "sha1") not in missing:
            assert stored[pcr] == value, f"sha1 PCR {pcr}: replay {value.hex()} != stored {stored[pcr].hex()}"

    with open(os.path.join(HERE, "windows_gcp_agile.bin"), "wb") as f:
        f.write(out)
    expected = {
        "source": "go-attestation attest/testdata/windows_gcp_shielded_vm.json, reshaped by make_windows_agile.py",
        "records": record,
        "pcrs": {
            bank: {str(pcr): v.hex() for (pcr, b), v in sorted(pcrs.items()) if b == bank and (pcr, b) not in missing}
            for bank in ("sha1", "sha256")
        },
        "incomplete": [
            {"pcr": pcr, "bank": bank, "records": extended[pcr], "missing": len(recs), "first_record": recs[0]}
            for (pcr, bank), recs in sorted(missing.items())
        ],
    }
    with open(os.path.join(HERE, "windows_gcp_agile.expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
