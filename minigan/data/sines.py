"""Sine waves of random frequency, amplitude and phase: RCGAN's first benchmark, and the
measurements that say how sine-like a generated sequence is.

Shape letters: N sequences, T time steps (30), one feature per step.

**The data** (Esteban, Hyland & Rätsch 2017, "Real-valued (medical) time series generation
with recurrent conditional GANs", section 4.1 and their code's ``sine_wave``). Sequence n is::

    x_nt = A_n sin(2π f_n t / T + φ_n),      t = 1, 2, ..., T       (T = 30)
    f_n ~ U[1, 5],   A_n ~ U[0.1, 0.9],   φ_n ~ U[−π, π]

Our reading of "frequency in [1, 5]": f counts **cycles per sequence** (per T = 30 steps),
not per time step: the paper's code divides by the sequence length
(``A*np.sin(2*np.pi*f*ix/float(seq_length) + offset)`` with ``ix = 1..seq_length``), and we
use the same t = 1..T. So a sequence shows between one and five whole periods, with at least
T / 5 = 6 samples per period (far from the Nyquist limit of T / 2 = 15 cycles).

**The measurement**. Each sequence is fitted by least squares with the same family::

    x_t ≈ a sin(ω t) + b cos(ω t),    ω = 2π f / T    ->   A = √(a² + b²),  φ = atan2(b, a)

For a fixed f the fit is linear in (a, b): two normal equations, solved in closed form for
every sequence and every f of a grid at once. :func:`fit_sines` takes the f with the smallest
residual on a grid of step 0.01 over [0.25, 7.5] (the residual's main lobe is about one cycle
wide, so a grid of 0.01 cannot step over the global minimum), then refines around it on four
finer grids (steps 1e-3 to 1e-6, ±10 steps each). A clean float64 sine is recovered to about
1e-6 in f and in A; the float32 dataset to about 1e-5 (tests/test_rcgan.py). Why not an FFT
peak: with 1 to 5 cycles in 30 samples the peak falls between FFT bins, and the leakage
between bins biases both f and (max − min) / 2 as an amplitude; least squares has no such bias
and gives a residual for free. The fit has no constant offset, as the data have none: an
offset shows up in the residual. A sequence that is no sine at all still gets the f of its
best fit (a near-constant one, such as an untrained G's, lands at the top of the grid), and a
large residual that says how little that fit means.

The residual ``resid`` = RMS over t of (x_t − fit_t) says how sine-like a sample is (0 for a
perfect sine of the family; the data's amplitudes have RMS A / √2 ≈ 0.06 to 0.64).
:func:`sine_report` compares a generated set with the data through the 1-D Wasserstein
distances of the fitted frequencies and of the amplitudes (:func:`wasserstein_1d`, from sorted
samples), the mean residual, and for a conditional generator the mean |f_asked − f_fitted|.
"""
from __future__ import annotations

import math

import numpy as np

from .loader import DataLoader

SEQ_LEN = 30
FREQ_RANGE = (1.0, 5.0)
AMP_RANGE = (0.1, 0.9)
PHASE_RANGE = (-math.pi, math.pi)

__all__ = ["SEQ_LEN", "FREQ_RANGE", "AMP_RANGE", "PHASE_RANGE", "sine_waves", "SineDataset",
           "load_sines", "fit_sines", "wasserstein_1d", "sine_report"]


def _check_range(name, r):
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise ValueError(f"sine_waves: {name} must be a pair (low, high), got {r!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"sine_waves: {name} must be a finite pair with low <= high, got {r!r}")
    return lo, hi


def sine_waves(n, seq_len=SEQ_LEN, freq_range=FREQ_RANGE, amp_range=AMP_RANGE,
               phase_range=PHASE_RANGE, seed=0, return_params=False):
    """n sequences x_nt = A_n sin(2π f_n t / T + φ_n), t = 1..T (see the module docstring).

    f, A, φ are drawn uniformly from their ranges by ``numpy.random.default_rng(seed)``
    (host NumPy, whatever the backend: a seed gives the same data everywhere).

    Returns x: float32 NumPy array (n, T, 1); with ``return_params``, also a dict of float64
    arrays (n,) ``freq`` (cycles per sequence), ``amp`` and ``phase``.
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"sine_waves: n must be a non-negative integer, got {n!r}")
    if isinstance(seq_len, bool) or int(seq_len) != seq_len or seq_len < 2:
        raise ValueError(f"sine_waves: seq_len must be an integer >= 2, got {seq_len!r}")
    n, T = int(n), int(seq_len)
    (f0, f1), (a0, a1), (p0, p1) = (_check_range(k, r) for k, r in (
        ("freq_range", freq_range), ("amp_range", amp_range), ("phase_range", phase_range)))
    rng = np.random.default_rng(seed)
    freq = rng.uniform(f0, f1, n)
    amp = rng.uniform(a0, a1, n)
    phase = rng.uniform(p0, p1, n)
    t = np.arange(1, T + 1, dtype=np.float64)
    x = amp[:, None] * np.sin(2 * np.pi * freq[:, None] * t / T + phase[:, None])
    x = x[:, :, None].astype(np.float32)
    if return_params:
        return x, {"freq": freq, "amp": amp, "phase": phase}
    return x


class SineDataset:
    """A fixed set of N sine waves (the paper trains on a fixed set) and their parameters.

    Attributes: ``sequences`` float32 (N, T, 1); ``freq``, ``amp``, ``phase`` float64 (N,);
    ``freq_range``, ``amp_range`` (the ranges they were drawn from); ``seq_len`` T.
    ``loader(batch_size, seed, with_freq=False)``: a :class:`~minigan.data.loader.DataLoader`
    (shuffled epochs, ``batch_at(step)`` a pure function of the step) of the sequences, or of
    (sequences (B, T, 1), frequencies float32 (B,)) pairs for a conditional model.
    """

    def __init__(self, n=10_000, seq_len=SEQ_LEN, freq_range=FREQ_RANGE, amp_range=AMP_RANGE,
                 seed=0):
        self.sequences, params = sine_waves(n, seq_len, freq_range, amp_range, seed=seed,
                                            return_params=True)
        self.freq, self.amp, self.phase = params["freq"], params["amp"], params["phase"]
        self.freq_range, self.amp_range = tuple(freq_range), tuple(amp_range)
        self.seq_len, self.seed = int(seq_len), seed

    def __len__(self):
        return self.sequences.shape[0]

    def loader(self, batch_size, seed=0, with_freq=False, shuffle=True, drop_last=True):
        arrays = (self.sequences, self.freq.astype(np.float32)) if with_freq else (self.sequences,)
        return DataLoader(*arrays, batch_size=batch_size, shuffle=shuffle, seed=seed,
                          drop_last=drop_last)

    def __repr__(self):
        return (f"SineDataset(n={len(self)}, seq_len={self.seq_len}, freq_range={self.freq_range}, "
                f"amp_range={self.amp_range}, seed={self.seed})")


def load_sines(n=10_000, seed=0, **kwargs):
    """``SineDataset(n, seed=seed, **kwargs)`` (the name the dataset registry would use)."""
    return SineDataset(n, seed=seed, **kwargs)


# --- measurement ----------------------------------------------------------------------------

def _as_sequences(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    if x.ndim != 2 or x.shape[1] < 3:
        raise ValueError(f"fit_sines: expected sequences of shape (N, T, 1) or (N, T) with "
                         f"T >= 3, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("fit_sines: the sequences contain NaN or infinite values")
    return x


def _fit_at(x, freq, T):
    """Least squares of every sequence at given frequencies.

    x: (N, T); freq: (K,), the same for every sequence, or (N, K), each sequence its own ->
    residual energy (N, K), a (N, K), b (N, K) for x_t ≈ a sin(ωt) + b cos(ωt), ω = 2πf/T,
    t = 1..T. The normal equations [[ss, sc], [sc, cc]] (a, b) = (xs, xc) are solved by
    Cramer's rule.
    """
    t = np.arange(1, T + 1, dtype=np.float64)
    arg = (2 * np.pi / T) * freq[..., None] * t                        # (K, T) or (N, K, T)
    s, c = np.sin(arg), np.cos(arg)
    ss, cc, sc = (s * s).sum(-1), (c * c).sum(-1), (s * c).sum(-1)
    if freq.ndim == 1:                                                 # one basis for all
        xs, xc = x @ s.T, x @ c.T
    else:
        xs, xc = np.einsum("nkt,nt->nk", s, x), np.einsum("nkt,nt->nk", c, x)
    det = ss * cc - sc * sc
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)                   # f near 0 or T/2
    a = (cc * xs - sc * xc) / det
    b = (ss * xc - sc * xs) / det
    resid = (x * x).sum(-1)[:, None] - (a * xs + b * xc)              # ‖x‖² − projection
    return np.maximum(resid, 0.0), a, b


def fit_sines(x, f_min=0.25, f_max=7.5, chunk=512):
    """Fit A sin(2π f t / T + φ), t = 1..T, to every sequence by least squares (module docstring).

    x: (N, T, 1) or (N, T), any float dtype (fitted in float64).
    f_min, f_max: the frequencies searched, in cycles per sequence (the default covers the
    data's [1, 5] with room for generated sequences outside it).
    Returns a dict of float64 arrays (N,): ``freq``, ``amp`` (>= 0), ``phase`` in (−π, π] and
    ``resid``, the RMS over t of x_t minus the fitted sine.
    """
    x = _as_sequences(x)
    N, T = x.shape
    if not 0 < f_min < f_max:
        raise ValueError(f"fit_sines: need 0 < f_min < f_max, got {f_min}, {f_max}")
    coarse = np.arange(f_min, f_max + 1e-9, 0.01)
    out = {k: np.empty(N) for k in ("freq", "amp", "phase", "resid")}
    for lo in range(0, N, chunk):                       # bounded memory: (chunk, K, T) arrays
        xc = x[lo:lo + chunk]
        n = xc.shape[0]
        best = coarse[_fit_at(xc, coarse, T)[0].argmin(1)]
        for step in (1e-3, 1e-4, 1e-5, 1e-6):           # refine: ±10 steps of the finer grid
            grid = np.clip(best[:, None] + step * np.arange(-10, 11), f_min, f_max)
            best = grid[np.arange(n), _fit_at(xc, grid, T)[0].argmin(1)]
        resid, a, b = (v[:, 0] for v in _fit_at(xc, best[:, None], T))
        sl = slice(lo, lo + n)
        out["freq"][sl], out["amp"][sl] = best, np.hypot(a, b)
        out["phase"][sl], out["resid"][sl] = np.arctan2(b, a), np.sqrt(resid / T)
    return out


def wasserstein_1d(u, v):
    """W1 between the empirical distributions of two 1-D samples (any sizes).

    W1 = ∫ |F_u(z) − F_v(z)| dz, the area between the two empirical CDFs: a sum over the
    intervals between consecutive points of the pooled, sorted samples (the same formula as
    ``scipy.stats.wasserstein_distance``). For equal sizes it is mean |sort(u) − sort(v)|.
    """
    u = np.sort(np.asarray(u, dtype=np.float64).ravel())
    v = np.sort(np.asarray(v, dtype=np.float64).ravel())
    if u.size == 0 or v.size == 0:
        raise ValueError("wasserstein_1d: both samples need at least one value")
    z = np.sort(np.concatenate([u, v]))
    dz = np.diff(z)
    Fu = np.searchsorted(u, z[:-1], side="right") / u.size
    Fv = np.searchsorted(v, z[:-1], side="right") / v.size
    return float(np.sum(np.abs(Fu - Fv) * dz))


def sine_report(samples, real, freq_asked=None, real_fit=None):
    """How close generated sequences are to the data, in the terms of the sine family.

    samples: (n, T, 1) generated; real: (m, T, 1) data (or ``real_fit``, a :func:`fit_sines`
    result of them, to fit the data once for many reports). freq_asked: (n,) the frequencies
    a conditional generator was asked for (None for an unconditional one).

    Returns floats: ``w1_freq``, ``w1_amp`` (1-D Wasserstein distances between the fitted
    frequencies, amplitudes of samples and data), ``resid`` (mean RMS residual of the samples'
    fits: 0 = perfect sines), ``rel_resid`` (mean of each sample's residual RMS divided by
    its own RMS: the share the best sine leaves unexplained, scale-free; about 1 for noise
    or a constant, 0 for a sine), and with ``freq_asked``, ``freq_err`` = mean |f_asked − f_fitted|.
    """
    fs = fit_sines(samples)
    rms = np.sqrt(np.mean(_as_sequences(samples) ** 2, axis=1))
    fr = real_fit if real_fit is not None else fit_sines(real)
    out = {"w1_freq": wasserstein_1d(fs["freq"], fr["freq"]),
           "w1_amp": wasserstein_1d(fs["amp"], fr["amp"]),
           "resid": float(fs["resid"].mean()),
           "rel_resid": float(np.mean(fs["resid"] / np.maximum(rms, 1e-12)))}
    if freq_asked is not None:
        asked = np.asarray(freq_asked, dtype=np.float64).ravel()
        if asked.shape != fs["freq"].shape:
            raise ValueError(f"sine_report: {asked.size} asked frequencies for "
                             f"{fs['freq'].size} samples")
        out["freq_err"] = float(np.abs(asked - fs["freq"]).mean())
    return out
