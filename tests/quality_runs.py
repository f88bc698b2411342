"""Training-quality runs: short trainings measured before and after, one function per model.

A seeded GAN run is chaotic: change the last bit of one product (another CPU's BLAS kernel,
NumPy's kernels instead of numba's, another thread count) and after a few hundred steps the run
is somewhere else. A test that holds *one* run to a threshold therefore passes or fails by the
machine's rounding, not by the code. So each quality test here

- runs the same short training from several seeds (``SEEDS``): each seed is a different draw
  from the distribution of outcomes that rounding also draws from;
- asserts what must hold in *every* run exactly (every parameter of both networks moved, the
  numbers are finite);
- holds the **median** over the seeds to each bar (with three seeds: two of three must clear it).

The bars are set from the measured distribution, not from one lucky trajectory:
``python scripts/calibrate_quality.py`` runs every function below over 20 seeds and prints, per
criterion, the bar, the worst seed and the share of seeds that clear it. A bar that 95 % of
single seeds clear is failed by the median of three with probability below 1 %; the bars below
are cleared by every one of the 20 calibration seeds, with a margin (the numbers are in each
function's docstring). ``scripts/rounding_variants.sh`` runs these tests under several BLAS
kernels and both kernel back-ends.

Each function returns ``{criterion: (value, bar, direction)}`` plus ``"moved"``: the names of
the parameters that did not move (must be empty).
"""
from __future__ import annotations

import numpy as np

from minigan.backend import blas_threads
from minigan.data import DataLoader, load_dataset, load_digits, make_loader, ring8
from minigan.evaluation.metrics import (assign_to_modes, conditional_accuracy, digits_classifier,
                             digits_metrics, mode_metrics)

SEEDS = (0, 1, 2)
ABOVE, BELOW = ">", "<"


def _unmoved(start, triples):
    return [n for n, p, _ in triples if np.allclose(p, start[n])]


def _start(triples):
    return {n: p.copy() for n, p, _ in triples}


# --- the MLP GAN on a ring (chapter 3) ----------------------------------------------------------
def gan_ring(seed):
    """2500 steps of the first GAN (width 128, z in R^2) on a looser ring (std 0.05).

    Calibrated over 20 seeds: every seed covers 8/8 modes, the high-quality share rises by 0.45
    to 0.92, the reverse KL ends at 0.11 or below. At width 64 and 1500 steps, 3 or 4 seeds in
    20 collapsed onto 0-2 modes (the plain GAN's genuine failure, chapter 8), so one seed's run
    passed or failed by the CPU's rounding."""
    from minigan.gans.gan import GAN
    mixture = ring8(std=0.05)
    gan = GAN(data_shape=(2,), latent_dim=2, hidden=128, depth=2, seed=seed)
    triples = gan.G.named_parameters("G.") + gan.D.named_parameters("D.")
    start = _start(triples)
    before = mode_metrics(gan.sample(1000, seed=seed + 100), mixture)
    loader = make_loader(mixture, 128, seed=seed)
    with blas_threads(1):
        for step in range(2500):
            gan.train_step(loader.batch_at(step))
    after = mode_metrics(gan.sample(1000, seed=seed + 100), mixture)
    return {"moved": _unmoved(start, triples),
            "high_quality_gain": (after["high_quality"] - before["high_quality"], 0.3, ABOVE),
            "modes_covered": (after["modes_covered"], 7, ABOVE),
            "reverse_kl": (after["reverse_kl"], 0.5, BELOW)}


# --- WGAN-GP on a ring (chapter 7) --------------------------------------------------------------
def wgan_gp_ring(seed):
    """800 steps of WGAN-GP on the looser ring, with chapter 7's lambda = 1 (the CLI preset).

    Calibrated over 20 seeds: every seed goes from 0 to 8/8 modes, the high-quality share rises
    by 0.23 to 0.34 and the median distance to a mode falls to 0.25-0.30 of what it was. With the
    paper's lambda = 10 (tuned for images) the same run was on a knife edge: it gained 0 to 8
    modes, and half the seeds missed a bar of +4, so one seed's result depended on the rounding."""
    from minigan.gans.wgan import WGANGP
    mixture = ring8(std=0.05)
    model = WGANGP(latent_dim=8, hidden=64, depth=2, lam=1.0, lr_g=5e-4, lr_d=5e-4, seed=seed)
    triples = model.G.named_parameters("G.") + model.D.named_parameters("D.")
    start = _start(triples)

    def measure():
        x = model.sample(1000, seed=seed + 100)
        m = mode_metrics(x, mixture)
        m["median_distance"] = float(np.median(
            assign_to_modes(x, mixture.centers, mixture.std)[1]))
        return m

    before = measure()
    loader = make_loader(mixture, 64, seed=seed)
    with blas_threads(1):
        for step in range(800):
            model.train_step(loader.batch_at(step))
    after = measure()
    return {"moved": _unmoved(start, triples),
            "modes_gain": (after["modes_covered"] - before["modes_covered"], 4, ABOVE),
            "high_quality_gain": (after["high_quality"] - before["high_quality"], 0.15, ABOVE),
            "distance_ratio": (after["median_distance"] / before["median_distance"], 0.45, BELOW)}


# --- DCGAN on the 8x8 digits (chapter 5) --------------------------------------------------------
def _nearest_distance(samples, real):
    """Mean Euclidean distance from each sample to its nearest real image."""
    a, b = samples.reshape(len(samples), -1), real.reshape(len(real), -1)
    d2 = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return float(np.sqrt(np.maximum(d2.min(axis=1), 0)).mean())


def dcgan_digits(seed):
    """300 steps of DCGAN on the 8x8 digits, measured by the scikit-learn judge and by the
    distance to the nearest real digit. Calibrated over 20 seeds: the judge's confidence rises by
    0.28 at worst (median 0.37), 5 to 10 classes are covered, the distance to the nearest real
    digit falls to 0.71 (0.78 at worst) of what it was."""
    from minigan.gans.dcgan import DCGAN
    train = load_dataset("digits", split="train")
    real = load_dataset("digits", split="test").images
    gan = DCGAN(data_shape=(1, 8, 8), latent_dim=32, width=16, seed=seed)
    triples = gan.G.named_parameters("G.") + gan.D.named_parameters("D.")
    start = _start(triples)
    x0 = gan.sample(500, seed=seed + 7)
    before, nn_before = digits_metrics(x0), _nearest_distance(x0, real)
    loader = make_loader(train, 64, seed=seed)
    with blas_threads(1):
        for step in range(300):
            logs = gan.train_step(loader.batch_at(step))
    x1 = gan.sample(500, seed=seed + 7)
    after, nn_after = digits_metrics(x1), _nearest_distance(x1, real)
    return {"moved": _unmoved(start, triples),
            "finite": (float(all(np.isfinite(v) for v in logs.values())), 1, ABOVE),
            "confidence_gain": (after["confidence"] - before["confidence"], 0.15, ABOVE),
            "classes_covered": (after["classes_covered"], 4, ABOVE),
            "nearest_ratio": (nn_after / nn_before, 0.85, BELOW)}


# --- the conditional GANs on the digits (chapter 6) ---------------------------------------------
def _cgan_run(model, steps, seed):
    clf = digits_classifier()
    loader = make_loader(load_digits(split="train"), 64, seed=seed, with_labels=True)
    before = conditional_accuracy(model, clf, n_per_class=50)["accuracy"]
    triples = model.g_parameters() + model.d_parameters()
    start = _start(triples)
    with blas_threads(1):
        for step in range(steps):
            model.train_step(loader.batch_at(step))
    after = conditional_accuracy(model, clf, n_per_class=50)["accuracy"]
    return {"moved": _unmoved(start, triples),
            "accuracy_before": (before, 0.25, BELOW),
            "accuracy_after": (after, 0.6, ABOVE),
            "accuracy_gain": (after - before, 0.4, ABOVE)}


def cgan_embedding_digits(seed):
    """The MLP cGAN with a learned label embedding, 1500 steps at width 128: before, G ignores
    the label (accuracy near chance, 0.1); after, the judge reads most samples as asked
    (calibrated over 20 seeds: 0.94 at the median, 0.80 at worst)."""
    from minigan.gans.cgan import CGAN
    return _cgan_run(CGAN(conditioning="embedding", latent_dim=32, hidden=128, seed=seed),
                     1500, seed)


def cgan_onehot_digits(seed):
    """The MLP cGAN with one-hot codes: the MLP takes longer to start using the label (about
    1500 steps at width 256), so 2500 steps (calibrated: 0.98 at the median, 0.93 at worst)."""
    from minigan.gans.cgan import CGAN
    return _cgan_run(CGAN(conditioning="onehot", latent_dim=32, hidden=256, seed=seed),
                     2500, seed)


def cdcgan_digits(seed):
    """The convolutional cGAN (label maps as channels), 400 steps (calibrated over 20 seeds:
    accuracy 0.89 at the median, 0.69 at worst)."""
    from minigan.gans.cgan import CDCGAN
    return _cgan_run(CDCGAN(conditioning="embedding", seed=seed), 400, seed)


# --- the recurrent GANs on sine waves (chapter 10) ----------------------------------------------
def _rcgan(conditional, seed):
    from minigan.data.sines import SineDataset, fit_sines, sine_report
    from minigan.gans.rcgan import RCGAN
    ds = SineDataset(2000, seed=0)
    real_fit = fit_sines(ds.sequences[:500])
    loader = ds.loader(64, seed=seed, with_freq=conditional)
    m = RCGAN(hidden=32, conditional=conditional, lr_d=4e-3, seed=seed)
    triples = m.G.named_parameters("G.") + m.D.named_parameters("D.")
    start = _start(triples)

    def quality():
        """W1 of the fitted frequencies and of the amplitudes, each relative to the width of
        the data's range (4 and 0.8), summed; and, for RCGAN, the mean |f asked - f fitted|."""
        x, asked = m.sample(500, seed=seed + 11, return_cond=True)
        r = sine_report(x, None, freq_asked=asked, real_fit=real_fit)
        return r["w1_freq"] / 4 + r["w1_amp"] / 0.8, r.get("freq_err")

    before, err_before = quality()
    with blas_threads(1):
        for s in range(600):
            m.train_step(loader.batch_at(s))
    after, err_after = quality()
    out = {"moved": _unmoved(start, triples),
           "w1_ratio": (after / before, 0.5 if conditional else 0.65, BELOW)}
    if conditional:
        out["freq_err_ratio"] = (err_after / err_before, 0.5, BELOW)
    return out


def rgan_sines(seed):
    """The unconditional recurrent GAN (the preset's hidden 32), 600 steps. Calibrated over 20
    seeds: the W1 score falls to 0.26 of its start at the median, 0.52 at worst."""
    return _rcgan(False, seed)


def rcgan_sines(seed):
    """The recurrent GAN conditioned on the frequency (hidden 32), 600 steps. Calibrated over 20
    seeds: the W1 score falls to 0.14 of its start (0.24 at worst), the frequency error to 0.06
    (0.30 at worst). At hidden 16 and 400 steps the error fell below half in only 14 of 20."""
    return _rcgan(True, seed)


# --- an LSTM language model by MLE (chapter 9) --------------------------------------------------
def mle_grammar(seed):
    """300 steps of teacher-forced MLE on the arithmetic grammar (calibrated over 20 seeds: the
    NLL falls by 2.1 nats or more, validity ends at 0.90 or more)."""
    from minigan.data.sequences import VOCAB, sample_sentences, validity
    from minigan.lm import MLE
    from minigan.train import fit
    data = sample_sentences(512, seq_len=12, seed=0)
    model = MLE(len(VOCAB), embed_dim=16, hidden=32, seq_len=12, start_token=VOCAB.bos,
                lr=1e-2, seed=seed)
    triples = model.G.named_parameters()
    start = _start(triples)
    loader = DataLoader(data, batch_size=32, seed=seed)
    nll0 = model.G.nll(data)
    valid0 = validity(model.sample(200))
    with blas_threads(1):
        fit(model, loader.batch_at, 300, progress=False)
    valid1 = validity(model.sample(200))
    return {"moved": _unmoved(start, triples),
            "nll_drop": (nll0 - model.G.nll(data), 1.0, ABOVE),
            "validity": (valid1, 0.5, ABOVE),
            "validity_gain": (valid1 - valid0, 0.3, ABOVE)}


RUNS = {f.__name__: f for f in (gan_ring, wgan_gp_ring, dcgan_digits, cgan_embedding_digits,
                                 cgan_onehot_digits, cdcgan_digits, rgan_sines, rcgan_sines,
                                 mle_grammar)}


def clears(value, bar, direction):
    return value >= bar if direction == ABOVE else value <= bar


def assert_quality(run, seeds=SEEDS):
    """Run ``run`` for every seed; every run must move every parameter; the median over the
    seeds of each criterion must clear its bar. Returns the per-seed results."""
    results = [run(s) for s in seeds]
    for s, r in zip(seeds, results):
        assert not r["moved"], f"seed {s}: {r['moved']} did not move over training"
    report = {}
    for key in results[0]:
        if key == "moved":
            continue
        values = [r[key][0] for r in results]
        bars = [r[key][1] for r in results]
        direction = results[0][key][2]
        median = float(np.median(values))
        bar = float(np.median(bars))
        report[key] = (median, bar, direction, values)
        assert clears(median, bar, direction), (
            f"{run.__name__}: median {key} over seeds {list(seeds)} is {median:.4g}, "
            f"the bar is {direction} {bar:.4g} (per seed: {[round(v, 4) for v in values]})")
    return report
