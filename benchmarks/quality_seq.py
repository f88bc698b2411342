#!/usr/bin/env python
"""Sequence generation: MLE vs SeqGAN on SeqGAN's oracle and on the expression grammar.

    python benchmarks/quality_seq.py            # 3 seeds, V = 5000 (the paper's oracle)
    python benchmarks/quality_seq.py --quick    # 1 seed, V = 500, 25 adversarial steps
    python benchmarks/quality_seq.py --first-seed 2 --seeds 1 --json b.json   # seeds apart,
    python benchmarks/quality_seq.py --merge a.json b.json --json all.json    # then joined

The script limits BLAS to one thread. Cost on one core: about 15 minutes per seed of the oracle
part (both variants; MLE pretraining at V = 5000 is 2 of them), about 2 minutes per seed of the
grammar part, --quick about 30 s. On a loaded machine its wall time is longer.

**Oracle** (Yu et al. 2017, section 4): a fixed random LSTM (V = 5000, T = 20, E = H = 32,
parameters ~ N(0, 1), as the paper's; its entropy rate, 5.78 nats, is the paper's oracle's; see
minigan.data.sequences.OracleLSTM) generates a FIXED training set of 10,000 sequences. G (E = H
= 32, as the paper) is pretrained by MLE on it (2,000 steps of 64, Adam 1e-2); then, from that
same pretrained G, either MLE continued on the same set for as many G updates as SeqGAN gets
(the fair baseline), or SeqGAN: D pretrained 1,000 steps, then 100 adversarial steps, each one
policy-gradient update of G on 64 sampled sequences with 4 rollouts per prefix (paper 16) and
the paper's settings (no baseline, Adam 1e-2, gradients clipped to 5, rollout network β ← 0.8 β
+ 0.2 θ), and 5 D updates on fresh samples. Two discriminators (VARIANTS): minigan's LSTM
classifier and the paper's CNN; and a control without D, every reward 0.5. Reported: NLL_oracle
of 2,000 samples of each generator (lower = samples the oracle finds likelier; the oracle's own
samples give its entropy rate), NLL_test, G's NLL of 2,000 held-out oracle sequences (lower = G
covers the data better), and the sample entropy (G's per-token entropy, estimated as the NLL of
its own samples under the distribution they were drawn from). The paper reports NLL_oracle
10.31 random / 9.04 MLE / 8.74 SeqGAN.

NLL_oracle rewards concentration: sampling the MLE generator at temperature 0.8 lowers it a
lot without any training. So the table also has MLE continued sampled at the temperature at
which its sample entropy equals each SeqGAN's (found by bisection), and the difference SeqGAN −
that: the part of SeqGAN's gain that is NOT just lower entropy (Caccia et al. 2020, "Language
GANs falling short"). Results: benchmarks/results/seq_table.txt, the README and chapter 10.

**Grammar**: 5,000 arithmetic expressions (minigan.data.sequences, T = 16). Reported for
2,000 samples: validity (exact parser), distinct-2/3 (unique n-grams / n-grams), unique
sentences and novelty (share of sentences not in the training set), for MLE at temperature
1, 0.7 and top-k 5, MLE continued, and SeqGAN (the first variant).

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

from minigan import backend  # noqa: E402
from minigan.backend import blas_threads  # noqa: E402
from minigan.data import DataLoader  # noqa: E402
from minigan.data.sequences import VOCAB, ExpressionDataset, OracleLSTM  # noqa: E402
from minigan.gans.seqgan import SeqGAN  # noqa: E402
from minigan.lm import MLE  # noqa: E402
from minigan.nn import log_softmax  # noqa: E402
from minigan.evaluation.sequences import sequence_report  # noqa: E402


# SeqGAN variants, each trained from the SAME MLE-pretrained G of a seed (--variants). Both
# use the paper's policy gradient (no baseline, Adam 1e-2 on G, rollouts from the delayed copy)
# unless --baseline / --lr-adv say otherwise. "lstm-d": minigan's LSTM discriminator (E = H = 32,
# Adam 5e-3). "cnn-d": the paper's CNN discriminator (windows 1-20, max over time, highway,
# dropout 0.25, L2 0.2 on the output layer, Adam 1e-4), scaled down to E = 32 and 416 filters
# (the paper: 64 and 1720), since the rewards run D on B·N·(T−1) rollouts per G step.
# "const": the control, no discriminator at all: every token's reward is 0.5 (what a D that
# knows nothing says), so E[∇J] = 0 and whatever moves G is the policy gradient's own noise
# (through Adam, on G's own samples) -- how much of SeqGAN's change needs D?


class ConstantReward(SeqGAN):
    """SeqGAN whose reward is 0.5 for every token of every sequence (no D is trained)."""

    def rewards(self, y, rng):
        return backend.xp.full(y.shape, 0.5, dtype=self.G.dtype)


VARIANTS = {
    "lstm-d": dict(discriminator="lstm", d_embed_dim=32, d_hidden=32),
    "cnn-d": dict(discriminator="cnn", d_embed_dim=32, d_dropout=0.25, d_l2=0.2, lr_d=1e-4),
    "const": dict(cls=ConstantReward, pretrain_d_steps=0, d_steps=0),
}


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


def matching_temperature(G, target, n, seed, lo=0.5, hi=1.5, iters=8):
    """The temperature τ at which G's samples have per-token entropy ``target``: bisection
    (the entropy of softmax(z / τ) grows with τ)."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if sample_entropy(G, n, seed, mid) > target:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def pretrain(gan, loader, adv_steps, lr_mle, seed, log):
    """MLE pretraining of ``gan``'s G, then MLE continued for adv_steps G updates on a copy.
    Returns (the pretrained G's state_dict, the continued-MLE trainer)."""
    t0 = time.perf_counter()
    while gan.phase == "mle":
        gan.train_step(loader.batch_at(gan.step))
    log(f"    MLE pretraining {time.perf_counter() - t0:.0f}s")
    snap = {k: v.copy() for k, v in gan.G.state_dict().items()}
    cont = continued_mle(gan, lr_mle, seed)
    for _ in range(adv_steps):
        cont.train_step(loader.batch_at(cont.step))
    return snap, cont


def adversarial(base, name, variant, snap, loader, adv_steps, log):
    """A SeqGAN with ``base`` settings updated by ``variant``, started from the pretrained G
    ``snap`` (and its rollout copy) at the end of MLE: D pretraining, then adv_steps
    adversarial steps. Returns the trained SeqGAN."""
    settings = dict(base, **variant)
    gan = settings.pop("cls", SeqGAN)(**settings)
    gan.G.load_state_dict(snap)
    gan.R.load_state_dict(snap)
    gan.step = gan.pretrain_g_steps
    t0 = time.perf_counter()
    while gan.phase == "pretrain_d":
        logs = gan.train_step(loader.batch_at(gan.step))
    t_d = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(adv_steps):
        logs = gan.train_step(loader.batch_at(gan.step))
    log(f"    {name}: D pretraining {t_d:.0f}s, adversarial "
        f"{time.perf_counter() - t0:.0f}s; last D(real) {logs['d_real']:.2f} "
        f"D(fake) {logs['d_fake']:.2f}")
    return gan


def base_settings(a, seed, **task):
    """The SeqGAN settings every variant starts from (the command line's choices)."""
    return dict(task, embed_dim=32, hidden=32, d_embed_dim=32, d_hidden=32,
                pretrain_d_steps=a.d_pretrain_steps, d_steps=a.d_steps, rollouts=a.rollouts,
                rollout_update=0.8, baseline=a.baseline, lr_mle=1e-2, lr_adv=a.lr_adv,
                lr_d=a.lr_d, seed=seed)


def variant_settings(a, name):
    """VARIANTS[name] (its own lr_d, where it has one, wins over --lr-d)."""
    return dict(VARIANTS[name])


def oracle_run(seed, a, oracle, train, test, log):
    base = base_settings(a, seed, vocab_size=oracle.vocab_size, seq_len=oracle.seq_len,
                         start_token=0, pretrain_g_steps=a.oracle_mle_steps)
    gan = SeqGAN(**base)
    loader = DataLoader(train, batch_size=64, seed=seed)
    n, s = a.eval_samples, 2000 + seed
    out = {"random": oracle.nll(gan.sample(n, seed=1000 + seed))}
    snap, cont = pretrain(gan, loader, a.adv_steps, 1e-2, seed, log)
    out["mle"] = oracle.nll(gan.sample(n, seed=1000 + seed))
    out["mle_test"] = gan.nll(test)
    out["mle_t0.8"] = oracle.nll(gan.sample(n, temperature=0.8, seed=1000 + seed))
    out["mle_ent"] = sample_entropy(gan.G, n, s)
    out["mle_t0.8_ent"] = sample_entropy(gan.G, n, s, 0.8)
    out["mle_cont"] = oracle.nll(cont.sample(n, seed=1000 + seed))
    out["mle_cont_test"] = cont.G.nll(test)
    out["mle_cont_ent"] = sample_entropy(cont.G, n, s)
    out["variants"] = {}
    for name in a.variants:
        g = adversarial(base, name, variant_settings(a, name), snap, loader, a.adv_steps, log)
        v = {"nll": oracle.nll(g.sample(n, seed=1000 + seed)), "test": g.nll(test),
             "ent": sample_entropy(g.G, n, s)}
        # how much of a gain is only lower entropy: continued MLE, sampled at the temperature
        # at which its samples are exactly as concentrated as this SeqGAN's
        v["matched_tau"] = matching_temperature(cont.G, v["ent"], n, s)
        v["matched"] = oracle.nll(cont.sample(n, temperature=v["matched_tau"], seed=1000 + seed))
        v["matched_ent"] = sample_entropy(cont.G, n, s, v["matched_tau"])
        out["variants"][name] = v
        log(f"    {name}: " + " ".join(f"{k}={x:.3f}" for k, x in v.items()))
    first = out["variants"][a.variants[0]]          # the first variant under the old keys
    out.update(seqgan=first["nll"], seqgan_test=first["test"], seqgan_ent=first["ent"],
               matched=first["matched"], matched_tau=first["matched_tau"],
               matched_ent=first["matched_ent"])
    return out


def grammar_run(seed, a, data, log):
    base = base_settings(a, seed, vocab_size=len(VOCAB), seq_len=data.seq_len,
                         start_token=VOCAB.bos, pretrain_g_steps=a.grammar_mle_steps)
    gan = SeqGAN(**base)
    loader = DataLoader(data.tokens, batch_size=64, seed=seed)
    n, s = a.eval_samples, 1000 + seed
    snap, cont = pretrain(gan, loader, a.adv_steps, 1e-2, seed, log)
    rep = lambda x: sequence_report(x, reference=data.tokens)      # noqa: E731
    out = {"mle": rep(gan.sample(n, seed=s)),
           "mle_t0.7": rep(gan.sample(n, temperature=0.7, seed=s)),
           "mle_top5": rep(gan.sample(n, top_k=5, seed=s)),
           "mle_cont": rep(cont.sample(n, seed=s))}
    name = a.variants[0]
    g = adversarial(base, name, variant_settings(a, name), snap, loader, a.adv_steps, log)
    out["seqgan"] = rep(g.sample(n, seed=s))
    return out


def ms(values):
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def report(results, a, log):
    """The tables, from the results (a fresh run's or merged ones')."""
    if "oracle" in results:
        runs, V = results["oracle"]["runs"], results["oracle"].get("vocab", a.vocab)
        log(f"Oracle (V={V}, T=20), mean ± std over {len(runs)} seed(s); "
            f"oracle entropy rate {results['oracle']['entropy']:.3f}")
        log("| generator | NLL_oracle (↓) | NLL_test (↓) | sample entropy |\n|---|---|---|---|")
        rows = [("random (untrained) G", "random", None, None),
                ("MLE", "mle", "mle_test", "mle_ent"),
                ("MLE, temperature 0.8", "mle_t0.8", None, "mle_t0.8_ent"),
                ("MLE continued", "mle_cont", "mle_cont_test", "mle_cont_ent")]
        for name, k, kt, ke in rows:
            log(f"| {name} | {ms([r[k] for r in runs])} | "
                f"{ms([r[kt] for r in runs]) if kt else '-'} | "
                f"{ms([r[ke] for r in runs]) if ke else '-'} |")
        variants = list(runs[0]["variants"])
        for v in variants:
            vs = [r["variants"][v] for r in runs]
            label = "control: reward 0.5, no D" if v == "const" else "SeqGAN"
            log(f"| {label} ({v}) | {ms([x['nll'] for x in vs])} | "
                f"{ms([x['test'] for x in vs])} | {ms([x['ent'] for x in vs])} |")
            log(f"| MLE continued at ({v})'s entropy (τ = "
                f"{ms([x['matched_tau'] for x in vs])}) | {ms([x['matched'] for x in vs])} | "
                f"- | {ms([x['matched_ent'] for x in vs])} |")
        for v in variants:
            vs = [(r["variants"][v], r) for r in runs]
            log(f"({v}) minus MLE: {ms([x['nll'] - r['mle'] for x, r in vs])}; minus "
                f"MLE continued: {ms([x['nll'] - r['mle_cont'] for x, r in vs])}; minus "
                f"entropy-matched MLE continued: {ms([x['nll'] - x['matched'] for x, r in vs])} "
                f"(NLL_oracle; negative = SeqGAN lower)")
        log("")
    if "grammar" in results:
        runs = results["grammar"]["runs"]
        keys = ["validity", "distinct_2", "distinct_3", "unique", "novelty"]
        log(f"Grammar (T=16), mean ± std over {len(runs)} seed(s)")
        log("| generator | " + " | ".join(keys) + " |\n" + "|---" * (len(keys) + 1) + "|")
        d = results["grammar"]["data"]
        log("| training data | " + " | ".join(f"{d[k]:.3f}" if k in d else "-" for k in keys)
            + " |")
        for name, k in [("MLE", "mle"), ("MLE, temperature 0.7", "mle_t0.7"),
                        ("MLE, top-k 5", "mle_top5"), ("MLE continued", "mle_cont"),
                        ("SeqGAN", "seqgan")]:
            log(f"| {name} | " + " | ".join(ms([r[k][m] for r in runs]) for m in keys) + " |")


def merge(paths):
    """Join several --json files of the same settings: seeds run apart, and variants of the
    same seed run apart (their pretraining is the same computation: checked, then joined)."""
    out = {}
    for path in paths:
        with open(path) as f:
            part = json.load(f)
        for key, val in part.items():
            if key == "settings":
                out.setdefault("settings", val)
                continue
            if key not in out:
                out[key] = dict(val, runs=[])
            runs = {r["seed"]: r for r in out[key]["runs"]}
            for r in val["runs"]:
                old = runs.get(r["seed"])
                if old is None:
                    out[key]["runs"].append(r)
                    runs[r["seed"]] = r
                elif key == "oracle":
                    if abs(old["mle"] - r["mle"]) > 1e-9:
                        raise SystemExit(f"--merge: seed {r['seed']}'s MLE differs between "
                                         f"files ({old['mle']} vs {r['mle']})")
                    old["variants"].update(r["variants"])
                else:
                    raise SystemExit(f"--merge: grammar seed {r['seed']} appears twice")
    for val in out.values():
        if isinstance(val, dict) and "runs" in val:
            val["runs"].sort(key=lambda r: r["seed"])
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 seed, V = 500, shorter training")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3; 1 quick)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds first..first+N-1")
    p.add_argument("--part", choices=["oracle", "grammar", "both"], default="both")
    p.add_argument("--vocab", type=int, default=None,
                   help="oracle vocabulary (default 5000, the paper's; 500 quick)")
    p.add_argument("--adv-steps", type=int, default=None,
                   help="adversarial steps (default 100; 25 quick)")
    p.add_argument("--rollouts", type=int, default=4, help="Monte-Carlo rollouts (paper 16)")
    p.add_argument("--lr-adv", type=float, default=1e-2, help="G's policy gradient (paper 1e-2)")
    p.add_argument("--lr-d", type=float, default=5e-3)
    p.add_argument("--d-steps", type=int, default=5, help="D updates per adversarial step")
    p.add_argument("--d-pretrain", type=int, default=None,
                   help="D pretraining steps (default 1000; 300 quick)")
    p.add_argument("--baseline", choices=["none", "mean"], default="none")
    p.add_argument("--variants", default="lstm-d,cnn-d,const",
                   help=f"SeqGAN variants on the oracle, comma-separated, from {list(VARIANTS)} "
                        "(default all three; the grammar runs the first)")
    p.add_argument("--json", help="write all numbers here")
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="join these --json files (seeds run separately), print the tables "
                        "and write --json")
    a = p.parse_args(argv)
    log = lambda s: print(s, flush=True)                            # noqa: E731
    if a.merge:
        results = merge(a.merge)
        report(results, a, log)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1, default=float)
        return
    a.variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    unknown = [v for v in a.variants if v not in VARIANTS]
    if unknown or not a.variants:
        p.error(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    a.seeds = a.seeds or (1 if a.quick else 3)
    a.vocab = a.vocab or (500 if a.quick else 5000)
    a.adv_steps = a.adv_steps or (25 if a.quick else 100)
    a.oracle_mle_steps = 800 if a.quick else 2000
    a.grammar_mle_steps = 600 if a.quick else 1500
    a.d_pretrain_steps = a.d_pretrain or (300 if a.quick else 1000)
    a.eval_samples = 1000 if a.quick else 2000
    log(f"settings: {vars(a)}")
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    results, t_start = {"settings": {k: v for k, v in vars(a).items() if k != "merge"}}, \
        time.perf_counter()
    with blas_threads(1):
        if a.part in ("oracle", "both"):
            oracle = OracleLSTM(vocab_size=a.vocab, seq_len=20, seed=0)
            train = oracle.sample(10000, seed=1)
            test = oracle.sample(2000, seed=2)
            entropy = oracle.nll(test)
            log(f"oracle V={a.vocab}: NLL_oracle of its own samples (entropy rate) {entropy:.3f}, "
                f"log V = {np.log(a.vocab):.3f}")
            runs = []
            for seed in seeds:
                r = oracle_run(seed, a, oracle, train, test, log)
                runs.append(dict(r, seed=seed))
                log(f"  oracle seed {seed}: " + " ".join(f"{k}={v:.3f}" for k, v in r.items()
                                                         if k != "variants"))
            results["oracle"] = {"entropy": entropy, "vocab": a.vocab, "runs": runs}
        if a.part in ("grammar", "both"):
            data = ExpressionDataset(5000, seq_len=16, max_depth=3, seed=0)
            runs = []
            for seed in seeds:
                r = grammar_run(seed, a, data, log)
                runs.append(dict(r, seed=seed))
                log(f"  grammar seed {seed}: " + "; ".join(
                    f"{k} valid {v['validity']:.3f} d2 {v['distinct_2']:.3f}" for k, v in r.items()))
            results["grammar"] = {"runs": runs, "data": sequence_report(data.tokens[:2000])}
    log(f"\ntotal time {time.perf_counter() - t_start:.0f}s, {a.seeds} seed(s), "
        f"{a.adv_steps} adversarial steps vs as many continued-MLE steps\n")
    report(results, a, log)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1, default=float)


if __name__ == "__main__":
    main()
