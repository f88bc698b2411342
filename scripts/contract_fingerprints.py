#!/usr/bin/env python
"""Fingerprints of every model's checkpoint after a few training steps, for comparing two
versions of the code on one machine (a seeded run's rounding is the CPU's, so fingerprints
from different machines are not comparable; that is why this is a script, not a test).

    python scripts/contract_fingerprints.py > before.json     # on the old code
    python scripts/contract_fingerprints.py --compare before.json   # on the new code

Every case of tests/test_every_step.py is built (seed 0), trained 3 steps and its state_dict
hashed array by array (SHA-256 of the bytes, with shape and dtype)."""
import argparse
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def fingerprints(only_plain=True):
    from test_every_step import CASES, _batches, _pretraining_steps
    from minigan.gans import get_model_class
    out = {}
    for case, (name, kw, batch) in CASES.items():
        model = get_model_class(name)(seed=0, **kw)
        k = model.batches_per_step          # the batch contract: fit hands a step k batches
        for step in range(_pretraining_steps(model) + 3):
            model.train_step(_batches(batch, step, k))
        state = model.state_dict()
        out[case] = {key: hashlib.sha256(repr((v.shape, str(v.dtype))).encode()
                                         + np.ascontiguousarray(v).tobytes()).hexdigest()[:16]
                     for key, v in sorted(state.items())}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compare", metavar="JSON", help="fingerprints of the other version")
    args = p.parse_args()
    now = fingerprints()
    if not args.compare:
        print(json.dumps(now, indent=1))
        return 0
    with open(args.compare) as f:
        before = json.load(f)
    bad = 0
    for case in sorted(set(before) | set(now)):
        a, b = before.get(case), now.get(case)
        if a is None or b is None:
            print(f"{case}: only in {'the new' if a is None else 'the old'} version")
            continue
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        print(f"{case}: {'identical' if not diff else 'DIFFERENT: ' + ', '.join(diff)} "
              f"({len(b)} arrays)")
        bad += bool(diff)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
