"""For every model the CLI knows, and every toolbox switch on every model it applies to: in
EVERY training step, every parameter of both networks receives a finite gradient and changes,
and the state a switch keeps (an EMA, historical averages, a sample pool) changes too.

The gradients are recorded as each optimiser step is about to use them, so a parameter that
moves only through momentum, or one whose gradient is NaN but whose update is masked, fails.

SeqGAN trains in phases (MLE steps move only G, D pretraining only D): its checked steps are
ADVERSARIAL steps, after one step of each pretraining phase (``_pretraining_steps``), and a
separate test checks that each pretraining step moves all of its own network and nothing of
the other. Its rollout network R (G_β) is not trained by gradients: it follows G by
β ← r β + (1 − r) θ after every policy-gradient update, so it is not among the networks whose
gradients are checked; instead every parameter of R must stay finite and move in every
adversarial step (r = 0.8 < 1).
"""
import numpy as np
import pytest

from minigan.data import load_digits, ring8
from minigan.data.sequences import VOCAB, sample_sentences
from minigan.data.sines import SineDataset
from minigan.gans import MODELS, SWITCHES, get_model_class

_digits = load_digits(split="train")
_sines = SineDataset(64, seed=0)


def _images(step, n=16):
    rows = np.random.default_rng(step).choice(len(_digits.images), n, replace=False)
    return _digits.images[rows], _digits.labels[rows]


def _points(step, n=48):
    return ring8(std=0.05).sample(n, rng=step)


def _sentences(step, n=16):
    return sample_sentences(n, seq_len=6, seed=step, max_depth=1)


def _sine_batch(step, n=16, with_freq=False):
    rows = np.random.default_rng(step).choice(len(_sines), n, replace=False)
    x = _sines.sequences[rows]
    return (x, _sines.freq[rows].astype(np.float32)) if with_freq else x


# SeqGAN: a tiny G and D on the expression grammar (V = 18, T = 6); one MLE step and one D
# pretraining step, then the checked adversarial steps (2 D updates each, a batch for each).
_SEQGAN = dict(vocab_size=len(VOCAB), seq_len=6, start_token=VOCAB.bos, embed_dim=8, hidden=8,
               d_embed_dim=8, d_hidden=8, pretrain_g_steps=1, pretrain_d_steps=1, d_steps=2,
               rollouts=2)


# Pix2Pix: a small U-Net and PatchGAN on random 16×16 pairs (inputs 2 channels, outputs 3)
_PIX2PIX = dict(in_channels=2, out_channels=3, size=16, depth=3, width=4, d_layers=1, d_width=4)


def _translation_pair(step, n=8):
    rng = np.random.default_rng(step)
    return (rng.uniform(-1, 1, (n, 2, 16, 16)).astype(np.float32),
            rng.uniform(-1, 1, (n, 3, 16, 16)).astype(np.float32))


# Text-to-image: small encoders-and-GAN on 64 captioned shapes (one encoder step, then the
# checked GAN steps); with attention and the matching loss, every part of G's step is on
from minigan.data.captions import MAX_WORDS as _MAX_WORDS, VOCAB as _WORDS, load_captioned_shapes
_captions = load_captioned_shapes("train", n=64).batches(8, seed=0)
_TEXT2IMAGE = dict(vocab=_WORDS.words, max_words=_MAX_WORDS, latent_dim=4, text_dim=8,
                   proj_dim=4, width=4, encoder_steps=1)


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
    "seqgan": ("seqgan", _SEQGAN, _sentences),
    "seqgan-cnn": ("seqgan", dict(_SEQGAN, discriminator="cnn", d_windows=[(1, 4), (2, 4), (3, 4)]),
                   _sentences),
    "rgan": ("rcgan", dict(hidden=8, latent_dim=2), _sine_batch),
    "rcgan": ("rcgan", dict(hidden=8, latent_dim=2, conditional=True),
              lambda s: _sine_batch(s, with_freq=True)),
    "pix2pix": ("pix2pix", _PIX2PIX, _translation_pair),
    "pix2pix-encoder-decoder-pixelgan": ("pix2pix", dict(_PIX2PIX, generator="encoder-decoder",
                                                         d_layers=0), _translation_pair),
    "pix2pix-gan": ("pix2pix", dict(_PIX2PIX, objective="gan"), _translation_pair),
    "pix2pix-l1": ("pix2pix", dict(_PIX2PIX, objective="l1"), _translation_pair),
    "text2image": ("text2image", _TEXT2IMAGE, _captions.batch_at),
    "text2image-attention-matching": ("text2image", dict(_TEXT2IMAGE, attention=True,
                                                         matching_weight=1.0), _captions.batch_at),
    "text2image-word-matching": ("text2image", dict(_TEXT2IMAGE, word_matching_weight=1.0),
                                 _captions.batch_at),
    "text2image-plain-gan": ("text2image", dict(_TEXT2IMAGE, matching=False, interpolate=False),
                             _captions.batch_at),
}

# Each switch turned on, as a value a small model trains with (pack 2 divides every batch).
SWITCH_ON = dict(label_smoothing=0.1, feature_matching=True, minibatch_kernels=3,
                 minibatch_dim=4, spectral_norm=True, pack=2, lr_half_life=10,
                 historical_averaging=0.01, sample_history=8, ema=0.9)
# The plain case of each model that its switches are tried on.
PLAIN = {"gan": "gan", "dcgan": "dcgan", "cgan": "cgan-embedding", "cdcgan": "cdcgan",
         "wgan": "wgan", "wgan-gp": "wgan-gp", "rcgan": "rcgan", "seqgan": "seqgan",
         "pix2pix": "pix2pix", "text2image": "text2image"}
for _model, _case in PLAIN.items():
    _name, _kw, _batch = CASES[_case]
    for _switch in get_model_class(_model).toolbox:
        CASES[f"{_model}+{_switch}"] = (_name, dict(_kw, **{_switch: SWITCH_ON[_switch]}), _batch)


def test_every_model_of_the_cli_is_covered():
    assert set(MODELS) <= {cls for cls, _, _ in CASES.values()}
    assert set(PLAIN) == set(MODELS)
    assert set(SWITCH_ON) == set(SWITCHES)


def _networks(model):
    """(name, params, grads) of every parameter of G and D, including label embeddings (a
    model without D, pix2pix's "l1" objective: G's)."""
    if hasattr(model, "g_parameters"):
        return model.g_parameters() + model.d_parameters()
    return model.G.named_parameters("G.") + (model.D.named_parameters("D.") if model.D else [])


def _optimisers(model):
    """Every optimiser of the model (its checkpointed parts named opt_*): opt_g and opt_d,
    or SeqGAN's opt_mle, opt_adv and opt_d."""
    return [getattr(model, part) for part in model.parts
            if part.startswith("opt_") and getattr(model, part) is not None]


def _pretraining_steps(model):
    """Steps before the adversarial phase (SeqGAN's MLE and D pretraining, text-to-image's
    encoders; 0 for the others)."""
    return (getattr(model, "pretrain_g_steps", 0) + getattr(model, "pretrain_d_steps", 0)
            + getattr(model, "encoder_steps", 0))


def _batches(batch, step, k):
    return [batch(step * k + i) for i in range(k)] if k > 1 else batch(step)


def _toolbox_state(model):
    """The arrays of the switches' own state (EMA, historical averages, sample pool)."""
    return {f"{part}.{k}": v for part in ("ema_g", "average_g", "average_d", "history")
            if getattr(model, part) is not None
            for k, v in getattr(model, part).state_dict().items()}


@pytest.mark.parametrize("case", list(CASES))
def test_every_step_moves_every_parameter_with_finite_gradients(case):
    name, kw, batch = CASES[case]
    model = get_model_class(name)(seed=0, **kw)
    k = model.batches_per_step
    seen = {}

    def recorded(opt):
        step = opt.step

        def wrapped():                           # the gradients this update is given
            for n, _, g in _networks(model):
                if any(g is q for q in opt_grads[id(opt)]):
                    seen.setdefault(n, []).append(g.copy())
            step()
        return wrapped

    for step in range(_pretraining_steps(model)):        # SeqGAN: to the adversarial phase
        model.train_step(_batches(batch, step, k))
    assert getattr(model, "phase", "adversarial") in ("adversarial", "gan")
    opt_grads = {id(o): [g for _, _, g in o.params] for o in _optimisers(model)}
    for o in _optimisers(model):
        o.step = recorded(o)
    rollout = model.R.named_parameters("R.") if hasattr(model, "R") else []
    for step in range(model.step, model.step + 3):
        before = {n: p.copy() for n, p, _ in _networks(model) + rollout}
        kept = _toolbox_state(model)
        seen.clear()
        logs = model.train_step(_batches(batch, step, k))
        assert all(np.isfinite(v) for v in logs.values()), (step, logs)
        for n, p, _ in _networks(model):
            assert n in seen, f"{case}, step {step}: no optimiser step used {n}"
            assert all(np.all(np.isfinite(g)) for g in seen[n]), f"{case}, step {step}: {n} non-finite"
            assert not np.array_equal(before[n], p), f"{case}, step {step}: {n} did not move"
        for n, p, _ in rollout:                          # R follows G: β ← rβ + (1 − r)θ
            assert np.all(np.isfinite(p)), f"{case}, step {step}: {n} non-finite"
            assert not np.array_equal(before[n], p), f"{case}, step {step}: {n} did not move"
        now = _toolbox_state(model)
        assert set(now) == set(kept)
        for n in now:           # every average moves, and the pool fills (then swaps)
            assert np.all(np.isfinite(now[n])), f"{case}, step {step}: {n} non-finite"
            if n != "history.filled":   # full after the first step: only its samples change
                assert not np.array_equal(kept[n], now[n]), f"{case}, step {step}: {n} did not move"


@pytest.mark.parametrize("phase, moves, still", [("mle", "G", "D"), ("pretrain_d", "D", "G")])
def test_seqgan_pretraining_moves_only_its_network(phase, moves, still):
    """An MLE step moves every parameter of G and none of D; a D-pretraining step the reverse."""
    model = get_model_class("seqgan")(seed=0, **_SEQGAN)
    while model.phase != phase:
        model.train_step(_sentences(model.step))
    before = {n: p.copy() for n, p, _ in _networks(model)}
    logs = model.train_step(_sentences(model.step))
    assert all(np.isfinite(v) for v in logs.values()), logs
    for n, p, _ in _networks(model):
        assert np.all(np.isfinite(p)), n
        if n.startswith(moves + "."):
            assert not np.array_equal(before[n], p), f"{phase}: {n} did not move"
        else:
            assert np.array_equal(before[n], p), f"{phase}: {n} moved"
