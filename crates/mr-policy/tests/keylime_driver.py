#!/usr/bin/env python3
"""Appraise an ASCII IMA list with keylime's own evaluation code (differential tests of mr-policy).

Usage: keylime_driver.py LIST POLICY.json
Prints one JSON object: {"policy_error": str} when keylime's validate_runtime_policy refuses the
policy, else {"failing": [1-based entry numbers], "list_failed": bool, "events": {n: [ids]}}.

Each line is evaluated by keylime.ima.ima._process_measurement_list on its own (so that the
failing entries can be named: keylime's Failure does not carry entry numbers), with one shared
ImaKeyrings holding the policy's verification-keys as the tenant keyring (what keylime's verifier
does) so keys learned from ima-buf entries carry over between lines. The whole list is also
evaluated in one call; list_failed is its verdict.
"""

import json
import logging
import sys
import types


def main(argv):
    try:
        import gpg  # noqa: F401
    except ImportError:
        sys.modules["gpg"] = types.ModuleType("gpg")  # only used for signed policies
    logging.disable(logging.CRITICAL)
    from keylime.common import algorithms
    from keylime.ima import ima
    from keylime.ima.file_signatures import ImaKeyring, ImaKeyrings

    list_path, policy_path = argv[1], argv[2]
    with open(policy_path, "rb") as f:
        raw = f.read()
    try:
        policy = ima.deserialize_runtime_policy(raw.decode())
        ima.validate_runtime_policy(policy)
    except Exception as e:  # keylime refuses the policy
        print(json.dumps({"policy_error": str(e).split("\n", 1)[0]}))
        return 0

    def keyrings():
        k = ImaKeyrings()
        k.set_tenant_keyring(ImaKeyring.from_string(policy.get("verification-keys") or ""))
        return k

    with open(list_path) as f:
        lines = [l for l in f.read().split("\n") if l != ""]

    shared = keyrings()
    failing, events = [], {}
    for n, line in enumerate(lines, 1):
        _, failure = ima._process_measurement_list(
            None, [line], algorithms.Hash.SHA1, runtime_policy=policy, ima_keyrings=shared
        )
        if failure:
            failing.append(n)
            events[n] = [e.event_id for e in failure.events]
    _, whole = ima.process_measurement_list(
        None, [l + "\n" for l in lines], runtime_policy=policy, ima_keyrings=keyrings()
    )
    print(json.dumps({"failing": failing, "list_failed": bool(whole), "events": events}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
