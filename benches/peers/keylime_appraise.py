#!/usr/bin/env python3
"""Time keylime's appraisal of an ASCII IMA list against a runtime policy (peer benchmark).

usage: keylime_appraise.py LIST POLICY.json
Calls keylime.ima.ima.process_measurement_list (no PCR value: appraisal only; the running hash
is still computed, as keylime always does) with the policy and the policy's verification-keys as
the tenant keyring. Prints JSON: entries, seconds (the call alone), allowed.
"""

import json
import logging
import sys
import time
import types


def main(argv):
    try:
        import gpg  # noqa: F401
    except ImportError:
        sys.modules["gpg"] = types.ModuleType("gpg")
    logging.disable(logging.CRITICAL)
    from keylime.ima import ima
    from keylime.ima.file_signatures import ImaKeyring, ImaKeyrings

    with open(argv[2]) as f:
        policy = ima.deserialize_runtime_policy(f.read())
    ima.validate_runtime_policy(policy)
    with open(argv[1]) as f:
        lines = f.readlines()
    keyrings = ImaKeyrings()
    keyrings.set_tenant_keyring(ImaKeyring.from_string(policy.get("verification-keys") or ""))
    t0 = time.perf_counter()
    _, failure = ima.process_measurement_list(None, lines, runtime_policy=policy, ima_keyrings=keyrings)
    dt = time.perf_counter() - t0
    print(json.dumps({"entries": len(lines), "seconds": round(dt, 4), "allowed": not failure}))
    return 0 if not failure else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
