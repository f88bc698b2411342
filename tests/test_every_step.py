"""For every model the CLI knows (and the toolbox's combinations): in EVERY training step,
every parameter of both networks receives a finite gradient and changes.

The gradients are recorded as each optimiser step is about to use them, so a parameter that
moves only through momentum, or one whose gradient is NaN but whose update is masked, fails.
"""
import numpy as np
import pytest

from minigan.data import load_digits, ring8
from minigan.gans import MODELS, get_model_class

_digits = load_digits(split="train")


def _images(step, n=16):
    rows = np.random.default_rng(step).choice(len(_digits.images), n, replace=False)
    return _digits.images[rows], _digits.labels[rows]


def _points(step, n=48):
    return ring8(std=0.05).sample(n, rng=step)


# name -> (class name, settings, one batch of a step); small networks, fast steps
CASES = {
    "gan": ("gan", dict(hidden=16, depth=2), _points),
    "gan+toolbox": ("gan", dict(hidden=16, depth=2, spectral_norm=True, pack=2, minibatch_kernels=3,
                                label_smoothing=0.1, lr_half_life=10), _points),
    "gan+feature-matching": ("gan", dict(hidden=16, depth=2, feature_matching=True), _points),
    "dcgan": ("dcgan", dict(data_shape=(1, 8, 8), latent_dim=8, width=4), lambda s: _images(s)[0]),
    "cgan": ("cgan", dict(latent_dim=4, hidden=16), _images),
    "cgan-embedding": ("cgan", dict(latent_dim=4, hidden=16, conditioning="embedding"), _images),
    "cdcgan": ("cdcgan", dict(latent_dim=4, width=4), _images),
    # clip = 1: at the paper's c = 0.01 an entry pinned at ±c can be clipped back to where it
    # was (test_wgan.py checks clipping itself); here every parameter must be free to move
    "wgan": ("wgan", dict(hidden=16, depth=2, clip=1.0, lr_g=1e-3, lr_d=1e-3), _points),
    "wgan-gp": ("wgan-gp", dict(hidden=16, depth=2), _points),
    "wgan-gp-r1-softplus": ("wgan-gp", dict(hidden=16, depth=2, penalty="r1",
                                            critic_activation="softplus"), _points),
    "wgan-gp-conv-layernorm": ("wgan-gp", dict(data_shape=(1, 8, 8), arch="conv", width=4,
                                               latent_dim=8, layer_norm=True),
                               lambda s: _images(s)[0]),
}


def test_every_model_of_the_cli_is_covered():
    assert set(MODELS) <= {cls for cls, _, _ in CASES.values()}


def _networks(model):
    """(name, params, grads) of every parameter of G and D, including label embeddings."""
    if hasattr(model, "g_parameters"):
        return model.g_parameters() + model.d_parameters()
    return model.G.named_parameters("G.") + model.D.named_parameters("D.")


@pytest.mark.parametrize("case", list(CASES))
def test_every_step_moves_every_parameter_with_finite_gradients(case):
    name, kw, batch = CASES[case]
    model = get_model_class(name)(seed=0, **kw)
    k = model.d_steps
    seen = {}

    def recorded(opt):
        step = opt.step

        def wrapped():                           # the gradients this update is given
            for n, _, g in _networks(model):
                if any(g is q for q in opt_grads[id(opt)]):
                    seen.setdefault(n, []).append(g.copy())
            step()
        return wrapped

    opt_grads = {id(o): [g for _, _, g in o.params] for o in (model.opt_d, model.opt_g)}
    model.opt_d.step, model.opt_g.step = recorded(model.opt_d), recorded(model.opt_g)
    for step in range(3):
        before = {n: p.copy() for n, p, _ in _networks(model)}
        seen.clear()
        logs = model.train_step([batch(step * k + i) for i in range(k)] if k > 1 else batch(step))
        assert all(np.isfinite(v) for v in logs.values()), (step, logs)
        for n, p, _ in _networks(model):
            assert n in seen, f"{case}, step {step}: no optimiser step used {n}"
            assert all(np.all(np.isfinite(g)) for g in seen[n]), f"{case}, step {step}: {n} non-finite"
            assert not np.array_equal(before[n], p), f"{case}, step {step}: {n} did not move"
