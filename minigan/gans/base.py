"""The model contract: what every GAN in minigan is made of, and the plumbing they share.

A model is built in three explicit steps, the same in every file of ``gans/``::

    GANModel.__init__(self, config, seed=seed, dtype=dtype, switches=switches)
        # checks the toolbox switches against this model's list, completes ``config``
    self.G, self.D = ...                    # the paper's networks (and any label tables)
    self.setup_training(opt_g, opt_d, fake=..., cond=...)
        # the optimisers, and the state of the switches that keep any (EMA, averages, pool)

and trained by its own ``train_step``, written out in its paper's order in its own file. The
contract's pieces, each in one place:

- **config**: every constructor argument, JSON-able; ``type(model)(**model.config)`` rebuilds
  the model (checkpoints store it).
- **the batch contract**: ``batches_per_step`` real batches make one step (Algorithm 1's k
  discriminator steps each sample their own; 1 for a model that reuses one), and
  ``conditional``: each batch is a pair (data, condition) rather than data alone. ``fit``
  and the CLI read these two; nobody guesses from a model's name.
- **parts**: the checkpointed networks, optimisers and toolbox states (:class:`Checkpointed`).
- **randomness**: :func:`step_rng` (a pure function of seed, step and stream: exact resume).
- one way to clear gradients (:meth:`GANModel.zero_grads`), one way to take an optimiser step
  with the toolbox around it (:meth:`GANModel.update`), one learning-rate schedule
  (:meth:`GANModel.schedule_learning_rates`), one end of step (:meth:`GANModel.finish_step`);
- **the toolbox**: the switches in :data:`SWITCHES`. A model lists those that apply to it in
  ``toolbox``; any other is refused with the reason (``not_applicable``).
"""
from __future__ import annotations

import contextlib
import numbers
import numpy as np

from .. import backend
from ..backend import get_array_module, to_numpy
from ..nn import bce_with_logits
from ..checkpointed import Checkpointed
from .toolbox import EMA, HistoricalAverage, SampleHistory


def step_rng(seed: int, step: int, stream: int = 0):
    """The generator for one training step: a pure function of (seed, step, stream).

    Drawing noise from a generator derived from the step number (rather than one long
    stream) makes a resumed run see exactly the same noise as an uninterrupted one.
    """
    return backend.default_rng(int(np.random.SeedSequence([seed, step, stream]).generate_state(1)[0]))


# The stream of step_rng that the sample history draws from, apart from the model's own noise,
# so that switching the history on changes nothing else a step draws.
HISTORY_STREAM = 7


def _number(lo, hi=None, closed_hi=False):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v == v:
            return False
        return v >= lo and (hi is None or (v <= hi if closed_hi else v < hi))
    return check


def _integer(least):
    return lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= least


# The stability toolbox (chapter 8): name -> (value when off, valid values, what it does).
SWITCHES = {
    "label_smoothing": (0.0, _number(0, 1), "a number in [0, 1)",
                        "one-sided label smoothing: D's target for real data is 1 − s"),
    "feature_matching": (False, lambda v: isinstance(v, bool), "True or False",
                         "G matches the mean of D's last hidden features on real data"),
    "minibatch_kernels": (0, _integer(0), "an integer >= 0",
                          "a minibatch-discrimination layer with B kernels before D's output"),
    "minibatch_dim": (5, _integer(1), "an integer >= 1",
                      "the dimension C of each minibatch-discrimination kernel"),
    "spectral_norm": (False, lambda v: isinstance(v, bool), "True or False",
                      "every linear and convolutional layer of D spectrally normalised"),
    "pack": (1, _integer(1), "an integer >= 1", "PacGAN: D judges packs of m samples"),
    "lr_half_life": (0, _number(0), "a number >= 0 (0: constant)",
                     "every learning rate halves every h steps"),
    "historical_averaging": (0.0, _number(0), "a number >= 0 (0: off)",
                             "each player's loss gets λ‖θ − mean of its past θ‖²"),
    "sample_history": (0, _integer(0), "an integer >= 0 (0: off)",
                       "D also sees up to this many of G's earlier samples"),
    "ema": (0.0, _number(0, 1), "a decay in [0, 1) (0: off)",
            "G's weights averaged (θ̃ ← d θ̃ + (1 − d) θ) for sampling and evaluation"),
}
# The switches every model takes: they act on parameters, optimisers and samples only.
GENERAL_SWITCHES = ("lr_half_life", "historical_averaging", "sample_history", "ema")


class GANModel(Checkpointed):
    """The base of every model in :data:`minigan.gans.MODELS` (module docstring).

    Subclasses set ``name``, ``toolbox`` (the switches that apply), ``not_applicable``
    (switch -> why not, for the error message) and ``blas_threads``, and build themselves as
    the module docstring shows."""

    name = None
    toolbox = GENERAL_SWITCHES
    not_applicable = {}
    blas_threads = 1    # small matrices: one BLAS thread is fastest (see backend.blas_threads)

    def __init__(self, config: dict, *, seed=0, dtype="float32", switches=None,
                 batches_per_step=1, conditional=False):
        """Check the toolbox ``switches`` (a dict of keyword arguments the constructor did not
        name) and set ``config`` (``config`` + every switch that applies + seed and dtype),
        ``seed``, ``step`` = 0, the batch contract and one attribute per switch."""
        who = type(self).__name__
        switches = dict(switches or {})
        for key, value in switches.items():
            if key not in SWITCHES:
                raise ValueError(f"{who}: unknown argument {key!r}; the toolbox switches are "
                                 f"{', '.join(SWITCHES)}")
            default, valid, expected, _ = SWITCHES[key]
            if key not in self.toolbox and value != default:
                why = self.not_applicable.get(key, "it is not implemented for this model")
                raise ValueError(f"{who}: the switch {key}={value!r} does not apply to "
                                 f"{self.name}: {why} (its switches: {', '.join(self.toolbox)})")
            if not valid(value):
                raise ValueError(f"{who}: {key} must be {expected}, got {value!r}")
        values = {key: switches.get(key, SWITCHES[key][0]) for key in self.toolbox}
        for key in SWITCHES:
            setattr(self, key, values.get(key, SWITCHES[key][0]))
        self.config = {**config, **values, "seed": seed, "dtype": str(dtype)}
        self.seed, self.step = seed, 0
        if isinstance(batches_per_step, bool) or int(batches_per_step) < 1:
            raise ValueError(f"{who}: batches_per_step must be >= 1")
        self.batches_per_step, self.conditional = int(batches_per_step), bool(conditional)
        self.ema_g = self.average_g = self.average_d = self.history = None

    def setup_training(self, opt_g, opt_d, fake=None, cond=None):
        """The optimisers (``opt_g`` for G's side, ``opt_d`` for D's; a model with more sets
        them itself and passes its G-side and D-side ones here), and the toolbox's state:
        EMA and historical averages over the parameters those optimisers update, and the
        sample pool for fakes of (shape, dtype) ``fake`` with conditions ``cond`` (or None)."""
        self.opt_g, self.opt_d = opt_g, opt_d
        backend.keep_freed_memory()     # reuse freed memory: no page faults every step
        self._lr0 = {part: getattr(self, part).lr for part in self.parts
                     if part.startswith("opt_") and getattr(self, part, None) is not None}
        if self.ema:
            self.ema_g = EMA(opt_g.params, self.ema)
        if self.historical_averaging:                # (opt_d None: a model without D)
            self.average_g = HistoricalAverage(opt_g.params, self.historical_averaging)
            if opt_d is not None:
                self.average_d = HistoricalAverage(opt_d.params, self.historical_averaging)
        if self.sample_history:
            shape, dtype = fake
            cond_shape, cond_dtype = cond if cond is not None else (None, None)
            self.history = SampleHistory(self.sample_history, shape, dtype, cond_shape,
                                         cond_dtype, xp=get_array_module(opt_g.params[0][1]))

    # --- the plumbing of a training step ----------------------------------------------------
    def batches(self, real_batches):
        """A step's real batches as a list of ``batches_per_step`` (one batch is reused)."""
        if self.conditional:
            one = _is_pair(real_batches) or not isinstance(real_batches, (list, tuple))
        else:
            one = not isinstance(real_batches, (list, tuple))
        if one:
            return [real_batches] * self.batches_per_step
        if not real_batches:
            raise ValueError(f"{type(self).__name__}: got an empty list of batches")
        return real_batches

    def schedule_learning_rates(self):
        """lr = lr₀ · 0.5^(step / half-life) for every optimiser: a pure function of the step,
        so resume is exact. Nothing happens with the half-life off."""
        if self.lr_half_life:
            factor = 0.5 ** (self.step / self.lr_half_life)
            for part, lr0 in self._lr0.items():
                getattr(self, part).lr = lr0 * factor

    def zero_grads(self, side):
        """Clear the gradients of one side ("g" or "d"): every parameter its optimiser updates
        (nothing for a model without D, pix2pix's "l1" objective)."""
        opt = self.opt_g if side == "g" else self.opt_d
        if opt is not None:
            opt.zero_grad()

    def update(self, side, opt=None):
        """One optimiser step on G's side ("g") or D's ("d") with the toolbox around it: the
        historical-averaging penalty's gradient added first, the average and (for G) the EMA
        updated after. ``opt``: the optimiser, if not opt_g / opt_d (SeqGAN's MLE and policy
        gradient optimisers both update G)."""
        opt = opt or (self.opt_g if side == "g" else self.opt_d)
        average = self.average_g if side == "g" else self.average_d
        if average is not None:
            average.penalty_and_backward()
        opt.step()
        if average is not None:
            average.update()
        if side == "g" and self.ema_g is not None:
            self.ema_g.update()

    def recall(self, fake, cond=None):
        """The fakes D is shown in its step: ``fake`` itself, or (sample history on) a mix with
        G's earlier samples (and their conditions). Returns (fake, cond)."""
        if self.history is None:
            return fake, cond
        rng = np.random.default_rng([self.seed, self.step, HISTORY_STREAM])
        return self.history.query(fake, cond, rng)

    def finish_step(self):
        """End of a step: D's gradients hold G's pass through D (not D's to use), cleared;
        the step counted."""
        self.zero_grads("d")
        self.step += 1

    # --- use ---------------------------------------------------------------------------------
    def noise(self, n, rng):
        """z ~ N(0, I), shape (n, latent_dim), in G's dtype."""
        return rng.standard_normal((n, self.latent_dim)).astype(self.G.dtype)

    def generate(self, z, cond=None):
        """G(z) (a conditional model: G(z | cond)) and the cache for :meth:`generate_backward`."""
        return self.G.forward(z)

    def generate_backward(self, dx, cache):
        """Back through :meth:`generate`: ADDS into G's gradients, returns dL/dz."""
        return self.G.backward(dx, cache)

    def sample(self, n, seed=None):
        """n samples from G (the EMA weights if that switch is on) as a NumPy array of shape
        (n, *data_shape)."""
        rng = backend.default_rng(seed if seed is not None else self.seed + 1)
        with self.sampling():
            x, _ = self.generate(self.noise(n, rng))
        return to_numpy(x).reshape((n,) + self.data_shape)

    @contextlib.contextmanager
    def sampling(self):
        """G in eval mode, with the EMA weights if the switch is on, for the block."""
        was = self.G.training
        self.G.eval()
        try:
            with (self.ema_g.swapped_in() if self.ema_g is not None else contextlib.nullcontext()):
                yield
        finally:
            self.G.train(was)


def _is_pair(batch):
    return (isinstance(batch, (tuple, list)) and len(batch) == 2
            and all(hasattr(b, "shape") for b in batch))


def mean_prob(s) -> float:
    """mean σ(s) of a batch of logits (σ written with tanh: no overflow for large |s|)."""
    xp = get_array_module(s)
    return float(xp.mean(0.5 * (1 + xp.tanh(0.5 * s))))


def bce_d_loss(s_real, s_fake, real_target=1.0):
    """D's loss on a real and a fake batch of logits, BCE(s_real, t) + BCE(s_fake, 0) (t = 1,
    or 1 − s with one-sided label smoothing), and its two gradients.

    Returns (loss, ds_real, ds_fake, mean D(x), mean D(G(z)))."""
    xp = get_array_module(s_real)
    loss_real, ds_real = bce_with_logits(s_real, xp.full_like(s_real, real_target))
    loss_fake, ds_fake = bce_with_logits(s_fake, xp.zeros_like(s_fake))
    return loss_real + loss_fake, ds_real, ds_fake, mean_prob(s_real), mean_prob(s_fake)


def bce_g_loss(s_fake, loss="nonsaturating"):
    """G's loss on D's logits for its samples and its gradient:
    nonsaturating −mean log D(G(z)) = BCE(s, 1), or minimax mean log(1 − D(G(z))) = −BCE(s, 0)."""
    xp = get_array_module(s_fake)
    if loss == "nonsaturating":
        return bce_with_logits(s_fake, xp.ones_like(s_fake))
    value, ds = bce_with_logits(s_fake, xp.zeros_like(s_fake))
    return -value, -ds
