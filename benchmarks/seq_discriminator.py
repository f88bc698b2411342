#!/usr/bin/env python
"""What SeqGAN's discriminator learns on the oracle: can it tell real from generated, and does
its score follow the oracle's likelihood (the thing NLL_oracle measures)?

    python benchmarks/seq_discriminator.py                       # V = 5000, both Ds
    python benchmarks/seq_discriminator.py --vocab 500 --steps 3000

G is pretrained by MLE exactly as in benchmarks/quality_seq.py (2,000 steps on the fixed
10,000 oracle sequences); then each discriminator is trained against it as in SeqGAN's D
pretraining (real batches from the training set, fresh samples of G as fakes). Every
``--every`` steps, on 2,000 HELD-OUT oracle sequences and 2,000 fresh samples of G:

- accuracy and AUC of real vs fake (0.5: D knows nothing);
- mean D on training reals vs held-out reals (a gap: D memorises the 10,000 training sequences
  instead of learning what real sequences have in common);
- at the end, the correlation between D's logit and the oracle's log-likelihood of each fake.
  The policy gradient moves G towards the fakes D scores high; only if those are the ones the
  oracle finds likely can fooling D lower NLL_oracle.

One seed; about 4 minutes on one core at V = 5000 (MLE pretraining is half of it).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from minigan.backend import blas_threads  # noqa: E402
from minigan.data import DataLoader  # noqa: E402
from minigan.data.sequences import OracleLSTM  # noqa: E402
from minigan.gans.seqgan import SeqGAN  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from quality_seq import VARIANTS  # noqa: E402


def auc(pos, neg):
    """P(score of a random positive > score of a random negative), by ranks (Mann-Whitney)."""
    scores = np.concatenate([pos, neg])
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return (ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", type=int, default=5000)
    p.add_argument("--steps", type=int, default=2000, help="D training steps")
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--variants", default="lstm-d,cnn-d")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    log = lambda s: print(s, flush=True)                            # noqa: E731
    with blas_threads(1):
        oracle = OracleLSTM(vocab_size=a.vocab, seq_len=20, seed=0)
        train, test = oracle.sample(10000, seed=1), oracle.sample(2000, seed=2)
        base = dict(vocab_size=a.vocab, seq_len=20, start_token=0, embed_dim=32, hidden=32,
                    pretrain_g_steps=2000, lr_mle=1e-2, lr_d=5e-3, seed=a.seed)
        loader = DataLoader(train, batch_size=64, seed=a.seed)
        t0 = time.perf_counter()
        gan = SeqGAN(**base, pretrain_d_steps=a.steps)
        while gan.phase == "mle":
            gan.train_step(loader.batch_at(gan.step))
        snap = gan.G.state_dict()
        fake = gan.sample(2000, seed=77)
        ll_fake = oracle.log_prob(fake).sum(axis=1)
        log(f"V={a.vocab}: MLE pretraining {time.perf_counter() - t0:.0f}s; NLL_oracle of G's "
            f"samples {oracle.nll(fake):.3f}, oracle entropy rate {oracle.nll(test):.3f}")
        for name in a.variants.split(","):
            d = SeqGAN(**dict(base, pretrain_d_steps=a.steps, **VARIANTS[name]))
            d.G.load_state_dict(snap)
            d.step = d.pretrain_g_steps
            t0, k = time.perf_counter(), 0
            while d.phase == "pretrain_d":
                d.train_step(loader.batch_at(d.step))
                k += 1
                if k % a.every == 0 or k == a.steps:
                    p_test, p_fake = d.D.prob(test), d.D.prob(fake)
                    p_train = d.D.prob(train[:2000])
                    acc = 0.5 * ((p_test > 0.5).mean() + (p_fake < 0.5).mean())
                    log(f"  {name} step {k}: accuracy {acc:.3f}, AUC {auc(p_test, p_fake):.3f}; "
                        f"mean D: training reals {p_train.mean():.2f}, held-out reals "
                        f"{p_test.mean():.2f}, fakes {p_fake.mean():.2f} "
                        f"({time.perf_counter() - t0:.0f}s)")
            r = np.corrcoef(logit(d.D.prob(fake)), ll_fake)[0, 1]
            log(f"  {name}: correlation of D's logit with the oracle log-likelihood of the "
                f"fakes {r:+.3f}")


if __name__ == "__main__":
    main()
