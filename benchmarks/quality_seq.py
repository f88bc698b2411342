#!/usr/bin/env python
"""Sequence generation: MLE vs SeqGAN on SeqGAN's oracle and on the expression grammar.

    python benchmarks/quality_seq.py            # 3 seeds, 150 adversarial steps (see below)
    python benchmarks/quality_seq.py --quick    # 1 seed, 25 adversarial steps
    python benchmarks/quality_seq.py --seeds 5 --adv-steps 100 --json out.json

Set OPENBLAS_NUM_THREADS=1 (the script also limits BLAS to one thread). Cost, measured on one
core: the full run 8.3 min (499 s wall, 452 s CPU; the 3 × 150 adversarial steps of the
oracle part are ~40% of it), --quick 35 s. On a loaded machine its wall time is longer.

**Oracle** (Yu et al. 2017, section 4): a fixed random LSTM (V = 500, T = 20, E = H = 32,
parameters ~ N(0, 1); see minigan.data.sequences.OracleLSTM) generates a FIXED training set
of 10,000 sequences (as the paper). G (E = H = 32, as the paper) is pretrained by MLE on it
(2,000 steps of 64); then either SeqGAN (D pretrained 2,000 steps, then 150 adversarial
steps of 1 policy-gradient update of 64 sequences with 8 rollouts per prefix, mean-reward
baseline, Adam 1e-3, and 5 D updates) or MLE continued on the same set for the SAME number
of G updates (the paper's fair baseline). Reported: NLL_oracle of 5,000 samples of each
generator (lower = samples the oracle finds likelier; the oracle's own samples give its
entropy rate), NLL_test, G's NLL of 2,000 held-out oracle sequences (lower = G covers the
data better), and the sample entropy (G's per-token entropy, estimated as the NLL of its
own samples under the distribution they were drawn from). The paper (V = 5000) reports
NLL_oracle 10.31 random / 9.04 MLE / 8.74 SeqGAN.

NLL_oracle rewards concentration: sampling the MLE generator at temperature 0.8 lowers it
by ~0.8 nats, far more than any adversarial training here. So the table also has MLE
continued sampled at the temperature at which its sample entropy equals SeqGAN's (found by
bisection), and the difference SeqGAN − that: the part of SeqGAN's gain that is NOT just
lower entropy. Result on this oracle (3 seeds): SeqGAN is within noise of continued MLE
(SeqGAN − MLE continued: +0.007 ± 0.037 nats) and of its entropy-matched version
(+0.007 ± 0.023): no gain (why: see the docstring of minigan.gans.seqgan).

**Grammar**: 5,000 arithmetic expressions (minigan.data.sequences, T = 16). Reported for
2,000 samples: validity (exact parser), distinct-2/3 (unique n-grams / n-grams), unique
sentences and novelty (share of sentences not in the training set), for MLE at temperature
1, 0.7 and top-k 5, MLE continued, and SeqGAN.

Each seed re-draws the model initialisations, batches and samples (the oracle and the data
sets are fixed). Prints one line per run and mean ± std over seeds.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from minigan.backend import blas_threads  # noqa: E402
from minigan.data import DataLoader  # noqa: E402
from minigan.data.sequences import VOCAB, ExpressionDataset, OracleLSTM  # noqa: E402
from minigan.gans.seqgan import SeqGAN  # noqa: E402
from minigan.lm import MLE  # noqa: E402
from minigan.nn import log_softmax  # noqa: E402
from minigan.seqmetrics import sequence_report  # noqa: E402


def continued_mle(gan, lr, seed):
    """An MLE trainer holding a copy of gan's G and of its MLE optimiser state."""
    cfg = gan.config
    m = MLE(cfg["vocab_size"], cfg["embed_dim"], cfg["hidden"], cfg["seq_len"],
            cfg["start_token"], lr=lr, clip=cfg["clip"], seed=seed)
    state = gan.state_dict()
    m.G.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("G.")})
    m.opt.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("opt_mle.")})
    m.step = gan.step
    return m


def sample_entropy(G, n, seed, temperature=1.0, batch_size=1000):
    """Per-token entropy of the distribution G samples from at ``temperature``, estimated as
    the mean −log G_τ(y_t | y_<t) of n of its own samples (G_τ = softmax(z / τ)). The
    oracle's own samples score its entropy rate; a generator that concentrates on fewer,
    likelier sequences scores lower (and, on the oracle, usually a lower NLL_oracle)."""
    y = G.sample(n, temperature=temperature, seed=seed)
    total = 0.0
    for i in range(0, n, batch_size):
        part = y[i:i + batch_size]
        z, _ = G.forward(part)
        logp = log_softmax(z.astype(np.float64) / temperature)
        total -= float(np.take_along_axis(logp, part[:, :, None], axis=2).sum())
    return total / y.size


def matching_temperature(G, target, n, seed, lo=0.5, hi=1.5, iters=10):
    """The temperature τ at which G's samples have per-token entropy ``target``: bisection
    (the entropy of softmax(z / τ) grows with τ)."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if sample_entropy(G, n, seed, mid) > target:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def train_both(gan, loader, adv_steps, lr_mle, seed, log):
    """MLE pretraining, then (a) MLE continued for adv_steps G updates on a copy, (b) D
    pretraining + adv_steps adversarial steps on ``gan``. Returns (the pretrained G's
    state_dict, the continued-MLE trainer); ``gan`` ends adversarially trained."""
    t0 = time.perf_counter()
    while gan.phase == "mle":
        gan.train_step(loader.batch_at(gan.step))
    t_mle = time.perf_counter() - t0
    snap = {k: v for k, v in gan.G.state_dict().items()}
    cont = continued_mle(gan, lr_mle, seed)
    for _ in range(adv_steps):
        cont.train_step(loader.batch_at(cont.step))
    t0 = time.perf_counter()
    while gan.phase == "pretrain_d":
        logs = gan.train_step(loader.batch_at(gan.step))
    t_d = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(adv_steps):
        logs = gan.train_step(loader.batch_at(gan.step))
    t_adv = time.perf_counter() - t0
    log(f"    times: MLE {t_mle:.0f}s, D pretraining {t_d:.0f}s, adversarial {t_adv:.0f}s; "
        f"last D(real) {logs['d_real']:.2f} D(fake) {logs['d_fake']:.2f}")
    return snap, cont


def oracle_run(seed, a, oracle, train, test, log):
    gan = SeqGAN(vocab_size=oracle.vocab_size, seq_len=oracle.seq_len, start_token=0,
                 embed_dim=32, hidden=32, d_embed_dim=32, d_hidden=32,
                 pretrain_g_steps=a.oracle_mle_steps, pretrain_d_steps=a.d_pretrain_steps,
                 d_steps=a.d_steps, rollouts=a.rollouts, rollout_update=0.8,
                 baseline=a.baseline, lr_mle=1e-2, lr_adv=a.lr_adv, lr_d=a.lr_d, seed=seed)
    loader = DataLoader(train, batch_size=64, seed=seed)
    n = a.eval_samples
    out = {"random": oracle.nll(gan.sample(n, seed=1000 + seed))}
    snap, cont = train_both(gan, loader, a.adv_steps, 1e-2, seed, log)
    adv_state = gan.G.state_dict()
    gan.G.load_state_dict(snap)
    out["mle"] = oracle.nll(gan.sample(n, seed=1000 + seed))
    out["mle_test"] = gan.nll(test)
    out["mle_t0.8"] = oracle.nll(gan.sample(n, temperature=0.8, seed=1000 + seed))
    out["mle_cont"] = oracle.nll(cont.sample(n, seed=1000 + seed))
    out["mle_cont_test"] = cont.G.nll(test)
    gan.G.load_state_dict(adv_state)
    out["seqgan"] = oracle.nll(gan.sample(n, seed=1000 + seed))
    out["seqgan_test"] = gan.nll(test)
    # how much of a gain is only lower entropy: continued MLE, sampled at the temperature at
    # which its samples are exactly as concentrated as SeqGAN's
    s = 2000 + seed
    out["seqgan_ent"] = sample_entropy(gan.G, n, s)
    out["mle_cont_ent"] = sample_entropy(cont.G, n, s)
    gan.G.load_state_dict(snap)
    out["mle_ent"] = sample_entropy(gan.G, n, s)
    out["mle_t0.8_ent"] = sample_entropy(gan.G, n, s, 0.8)
    gan.G.load_state_dict(adv_state)
    tau = matching_temperature(cont.G, out["seqgan_ent"], n, s)
    out["matched_tau"] = tau
    out["matched"] = oracle.nll(cont.sample(n, temperature=tau, seed=1000 + seed))
    out["matched_ent"] = sample_entropy(cont.G, n, s, tau)
    return out


def grammar_run(seed, a, data, log):
    T = data.seq_len
    gan = SeqGAN(vocab_size=len(VOCAB), seq_len=T, start_token=VOCAB.bos, embed_dim=32,
                 hidden=32, d_embed_dim=32, d_hidden=32,
                 pretrain_g_steps=a.grammar_mle_steps, pretrain_d_steps=a.d_pretrain_steps,
                 d_steps=a.d_steps, rollouts=a.rollouts, baseline=a.baseline, lr_mle=1e-2,
                 lr_adv=a.lr_adv, lr_d=a.lr_d, seed=seed)
    loader = DataLoader(data.tokens, batch_size=64, seed=seed)
    n, s = a.eval_samples, 1000 + seed
    snap, cont = train_both(gan, loader, a.adv_steps, 1e-2, seed, log)
    adv_state = gan.G.state_dict()
    gan.G.load_state_dict(snap)
    rep = lambda x: sequence_report(x, reference=data.tokens)      # noqa: E731
    out = {"mle": rep(gan.sample(n, seed=s)),
           "mle_t0.7": rep(gan.sample(n, temperature=0.7, seed=s)),
           "mle_top5": rep(gan.sample(n, top_k=5, seed=s)),
           "mle_cont": rep(cont.sample(n, seed=s))}
    gan.G.load_state_dict(adv_state)
    out["seqgan"] = rep(gan.sample(n, seed=s))
    return out


def ms(values):
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 seed, shorter training")
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 3; 1 quick)")
    p.add_argument("--part", choices=["oracle", "grammar", "both"], default="both")
    p.add_argument("--vocab", type=int, default=500, help="oracle vocabulary (paper: 5000)")
    p.add_argument("--adv-steps", type=int, default=None, help="adversarial steps (default 150; 25 quick)")
    p.add_argument("--rollouts", type=int, default=8, help="Monte-Carlo rollouts (paper 16)")
    p.add_argument("--lr-adv", type=float, default=1e-3)
    p.add_argument("--lr-d", type=float, default=5e-3)
    p.add_argument("--d-steps", type=int, default=5, help="D updates per adversarial step")
    p.add_argument("--d-pretrain", type=int, default=None,
                   help="D pretraining steps (default 2000; 300 quick)")
    p.add_argument("--baseline", choices=["none", "mean"], default="mean")
    p.add_argument("--json", help="write all numbers here")
    a = p.parse_args(argv)
    a.seeds = a.seeds or (1 if a.quick else 3)
    a.adv_steps = a.adv_steps or (25 if a.quick else 150)
    a.oracle_mle_steps = 800 if a.quick else 2000
    a.grammar_mle_steps = 600 if a.quick else 1500
    a.d_pretrain_steps = a.d_pretrain or (300 if a.quick else 2000)
    a.eval_samples = 1000 if a.quick else 5000
    log = lambda s: print(s, flush=True)                            # noqa: E731
    log(f"settings: {vars(a)}")
    results, t_start = {}, time.perf_counter()
    with blas_threads(1):
        if a.part in ("oracle", "both"):
            oracle = OracleLSTM(vocab_size=a.vocab, seq_len=20, seed=0)
            train = oracle.sample(10000, seed=1)
            test = oracle.sample(2000, seed=2)
            entropy = oracle.nll(test)
            log(f"oracle V={a.vocab}: NLL_oracle of its own samples (entropy rate) {entropy:.3f}, "
                f"log V = {np.log(a.vocab):.3f}")
            runs = []
            for seed in range(a.seeds):
                r = oracle_run(seed, a, oracle, train, test, log)
                runs.append(r)
                log(f"  oracle seed {seed}: " + " ".join(f"{k}={v:.3f}" for k, v in r.items()))
            results["oracle"] = {"entropy": entropy, "runs": runs}
        if a.part in ("grammar", "both"):
            data = ExpressionDataset(5000, seq_len=16, max_depth=3, seed=0)
            runs = []
            for seed in range(a.seeds):
                r = grammar_run(seed, a, data, log)
                runs.append(r)
                log(f"  grammar seed {seed}: " + "; ".join(
                    f"{k} valid {v['validity']:.3f} d2 {v['distinct_2']:.3f}" for k, v in r.items()))
            results["grammar"] = {"runs": runs, "data": sequence_report(data.tokens[:2000])}
    log(f"\ntotal time {time.perf_counter() - t_start:.0f}s, {a.seeds} seed(s), "
        f"{a.adv_steps} adversarial steps vs as many continued-MLE steps\n")
    if "oracle" in results:
        runs = results["oracle"]["runs"]
        log(f"Oracle (V={a.vocab}, T=20), mean ± std over {a.seeds} seed(s); "
            f"oracle entropy rate {results['oracle']['entropy']:.3f}")
        log("| generator | NLL_oracle (↓) | NLL_test (↓) | sample entropy |\n|---|---|---|---|")
        rows = [("random (untrained) G", "random", None, None),
                ("MLE", "mle", "mle_test", "mle_ent"),
                ("MLE, temperature 0.8", "mle_t0.8", None, "mle_t0.8_ent"),
                ("MLE continued", "mle_cont", "mle_cont_test", "mle_cont_ent"),
                ("SeqGAN", "seqgan", "seqgan_test", "seqgan_ent"),
                ("MLE continued at SeqGAN's entropy (τ = "
                 f"{ms([r['matched_tau'] for r in runs])})", "matched", "mle_cont_test",
                 "matched_ent")]
        for name, k, kt, ke in rows:
            log(f"| {name} | {ms([r[k] for r in runs])} | "
                f"{ms([r[kt] for r in runs]) if kt else '-'} | "
                f"{ms([r[ke] for r in runs]) if ke else '-'} |")
        log(f"SeqGAN minus MLE-continued NLL_oracle: "
            f"{ms([r['seqgan'] - r['mle_cont'] for r in runs])} (negative = SeqGAN better)")
        log(f"SeqGAN minus entropy-matched MLE-continued NLL_oracle: "
            f"{ms([r['seqgan'] - r['matched'] for r in runs])} (negative = SeqGAN better "
            f"than only lowering the temperature)\n")
    if "grammar" in results:
        runs = results["grammar"]["runs"]
        keys = ["validity", "distinct_2", "distinct_3", "unique", "novelty"]
        log(f"Grammar (T=16), mean ± std over {a.seeds} seed(s)")
        log("| generator | " + " | ".join(keys) + " |\n" + "|---" * (len(keys) + 1) + "|")
        d = results["grammar"]["data"]
        log("| training data | " + " | ".join(f"{d[k]:.3f}" if k in d else "-" for k in keys)
            + " |")
        for name, k in [("MLE", "mle"), ("MLE, temperature 0.7", "mle_t0.7"),
                        ("MLE, top-k 5", "mle_top5"), ("MLE continued", "mle_cont"),
                        ("SeqGAN", "seqgan")]:
            log(f"| {name} | " + " | ".join(ms([r[k][m] for r in runs]) for m in keys) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1, default=float)


if __name__ == "__main__":
    main()
