"""The settings that train each model well on each embedded dataset, the default dataset of
each model, and the plan of a phased model's steps: what ``minigan train MODEL`` starts from,
apart from the command line that reads it (``cli.py``) and the datasets' tasks (``tasks.py``).
"""
from __future__ import annotations

# Per model and dataset: the settings that train well, the batch size and the default steps.
# The MLP GAN's toy settings come from a small sweep (3 seeds each) of width, depth, latent
# size, learning rate and batch size on ring8; DCGAN's follow the paper (Adam 2e-4, β₁ 0.5)
# at a width that trains in about half a minute on 2 cores. benchmarks/quality_gan.py
# measures each over seeds.
_TOY = dict(model=dict(data_shape=(2,), latent_dim=2, hidden=128, depth=3, g_output="linear",
                       lr_g=1e-3, lr_d=1e-3), batch_size=512, steps=3000)
_SEQGAN = dict(embed_dim=32, hidden=32, d_embed_dim=32, d_hidden=32, d_steps=5, rollouts=8,
               rollout_update=0.8, baseline="mean", lr_mle=1e-2, lr_adv=1e-3, lr_d=5e-3)
PRESETS = {
    "gan": {
        "ring8": _TOY,
        "grid25": _TOY,
        "digits": dict(model=dict(data_shape=(1, 8, 8), latent_dim=32, hidden=256, depth=2,
                                  g_output="tanh", lr_g=5e-4, lr_d=5e-4), batch_size=64, steps=3000),
    },
    "dcgan": {
        "digits": dict(model=dict(data_shape=(1, 8, 8), latent_dim=32, width=16),
                       batch_size=64, steps=3000),
        # 28x28: DCGAN()'s own networks (width 64, z of 100) at Adam 5e-4 instead of the paper's
        # 2e-4: on benchmarks/quality_dcgan_mnist.py's measure, FID after 3000 steps 161
        # against 226 at 2e-4 (and 194 at width 32); 1e-3 with a half-life, or G's EMA, did
        # no better (benchmarks/README.md)
        **{data: dict(model=dict(data_shape=(1, 28, 28), latent_dim=100, width=64, lr_g=5e-4,
                                 lr_d=5e-4),
                      batch_size=64, steps=3000) for data in ("mnist", "fashion-mnist")},
    },
    "cgan": {
        "digits": dict(model=dict(data_shape=(1, 8, 8), latent_dim=32, hidden=256, depth=2,
                                  g_output="tanh", conditioning="onehot", lr_g=5e-4, lr_d=5e-4),
                       batch_size=64, steps=3000),
    },
    "cdcgan": {
        "digits": dict(model=dict(data_shape=(1, 8, 8), latent_dim=32, width=16),
                       batch_size=64, steps=2000),
    },
    # The Wasserstein toy settings of chapter 7 (MLPs of three hidden layers of 64, z in R²,
    # batch 128, n_critic 5, 3000 steps). WGAN: the paper's clipping c = 0.01 with RMSprop 5e-4. WGAN-GP:
    # Adam (0.5, 0.9) at 5e-4 and λ = 1: at the paper's λ = 10 (tuned for images) the toy
    # critics held only a few modes in runs of this length; the paper itself used λ = 0.1
    # for its toy data.
    "wgan": {
        data: dict(model=dict(data_shape=(2,), latent_dim=2, hidden=64, depth=3, clip=0.01,
                              lr_g=5e-4, lr_d=5e-4), batch_size=128, steps=3000)
        for data in ("ring8", "grid25")
    },
    "wgan-gp": {
        data: dict(model=dict(data_shape=(2,), latent_dim=2, hidden=64, depth=3, lam=1.0,
                              lr_g=5e-4, lr_d=5e-4, betas=(0.5, 0.9)), batch_size=128, steps=3000)
        for data in ("ring8", "grid25")
    },
    # SeqGAN (chapter 10): G and D of embedding 32 and hidden 32; MLE pretraining of G (Adam
    # 1e-2), D pretraining (Adam 5e-3), then adversarial steps of one policy-gradient update
    # (8 rollouts per prefix, mean-reward baseline, Adam 1e-3) and 5 D updates. The oracle here
    # has V = 500, so that a default run takes about 100 s on one core; benchmarks/quality_seq.py
    # measures SeqGAN on the paper's V = 5000 oracle with the paper's policy gradient. The three
    # phases are steps of one run; a --steps other than the default scales them
    # (``plan_phases``). Measured on one loaded core: the default oracle run 100 s (the 150
    # adversarial steps are two thirds of it), grammar 55 s.
    # The grammar's vocab_size and start_token: len(VOCAB) = 18 and VOCAB.bos = 1.
    "seqgan": {
        "oracle": dict(model=dict(_SEQGAN, vocab_size=500, seq_len=20, start_token=0,
                                  pretrain_g_steps=2000, pretrain_d_steps=2000),
                       batch_size=64, steps=4150),
        "grammar": dict(model=dict(_SEQGAN, vocab_size=18, seq_len=16, start_token=1,
                                   pretrain_g_steps=1500, pretrain_d_steps=2000),
                        batch_size=64, steps=3650),
    },
    # RCGAN (chapter 10), conditioned on the frequency, with the settings of
    # benchmarks/quality_rcgan.py (hidden 32, Z = 5, Adam 1e-3 for G and 4e-3 for D, batch 64,
    # 3000 steps: 50 s on one loaded core).
    "rcgan": {
        "sines": dict(model=dict(seq_len=30, n_features=1, latent_dim=5, hidden=32,
                                 conditional=True, cond_range=(1.0, 5.0), lr_g=1e-3, lr_d=4e-3),
                      batch_size=64, steps=3000),
    },
    # Pix2Pix on the street scenes (labels -> photo, 32×32): the paper's objective L1 + cGAN
    # with λ = 100 and Adam 2e-4, β₁ 0.5; a U-Net of 4 levels from 16 channels and the PatchGAN
    # that sees the whole 32×32 image (d_layers 2), as benchmarks/quality_pix2pix.py measures.
    "pix2pix": {
        "scenes": dict(model=dict(in_channels=6, out_channels=3, size=32, objective="l1+cgan",
                                  lam=100.0, depth=4, width=16, d_layers=2, d_width=16),
                       batch_size=16, steps=2000),
    },
    # Text-to-image on the captioned shapes (chapter 12): GAN-INT-CLS with the sentence
    # matching loss (λ = 3), the encoders trained first (1000 of the run's 6000 steps: retrieval
    # 0.98 against 0.92 after 500), Adam 5e-4 for G and D (the MNIST preset's; 2e-4 not
    # compared). Explored on one seed: λ = 3 ahead of λ = 1 from 2500 GAN steps on (all
    # attributes right 0.61 against 0.52 at 3500), λ = 0 far behind (0.18 at 2500); G's EMA
    # (0.999) lagged; width 48 no better at 1000 GAN steps (benchmarks/README.md).
    # benchmarks/quality_text2image.py measures it and its variants over three seeds.
    # The vocabulary and caption length come from the dataset (``preset`` adds them).
    "text2image": {
        "shapes": dict(model=dict(data_shape=(3, 16, 16), latent_dim=16, text_dim=32,
                                  proj_dim=16, width=32, matching=True, interpolate=True,
                                  matching_weight=3.0, encoder_steps=1000, lr_enc=2e-3,
                                  lr_g=5e-4, lr_d=5e-4),
                       batch_size=64, steps=6000),
    },
}
DATASETS = ["ring8", "grid25", "digits", "oracle", "grammar", "sines", "scenes", "mnist",
            "fashion-mnist", "shapes"]
# The dataset of ``minigan train MODEL`` without --data.
DEFAULT_DATA = {"gan": "ring8", "dcgan": "digits", "cgan": "digits", "cdcgan": "digits",
                "wgan": "ring8", "wgan-gp": "ring8", "seqgan": "oracle", "rcgan": "sines",
                "pix2pix": "scenes", "text2image": "shapes"}
# Every learning rate a model's constructor may take: G's and D's, and SeqGAN's MLE and
# policy-gradient rates for G. --lr sets each one the model takes.
LR_KEYS = ("lr_g", "lr_d", "lr_mle", "lr_adv")
# Config keys that tie a model to the shape of its data: a checkpoint resumed on a dataset
# (--data, for one that recorded none) must agree with the dataset's preset on each.
SHAPE_KEYS = ("data_shape", "vocab_size", "seq_len", "n_features", "vocab", "max_words")

def default_data(model):
    """The dataset a model trains on when --data is not given."""
    return DEFAULT_DATA.get(model, "digits")


def preset(model: str, data: str) -> dict:
    """The settings of ``model`` on ``data``; a clear error for an unknown pair."""
    from .gans import get_model_class
    get_model_class(model)                      # unknown model: lists the valid ones
    if data not in DATASETS:
        raise ValueError(f"unknown dataset {data!r}; valid datasets: {', '.join(DATASETS)}")
    if data not in PRESETS[model]:
        raise ValueError(f"model {model!r} has no settings for dataset {data!r}; "
                         f"it trains on: {', '.join(PRESETS[model])}")
    settings = PRESETS[model][data]
    if data == "shapes":                   # the captions' vocabulary and length, from the data
        from .data.captions import MAX_WORDS, VOCAB
        settings = dict(settings, model=dict(settings["model"], vocab=list(VOCAB.words),
                                             max_words=MAX_WORDS))
    return settings


def plan_phases(settings: dict, steps: int) -> dict:
    """A phased model's settings (SeqGAN: pretrain_g_steps MLE steps, pretrain_d_steps D
    steps, then adversarial steps) for a run of ``steps`` steps: the preset's phases when
    ``steps`` is the preset's, else scaled in proportion, each pretraining phase at least one
    step and, from 3 steps on, at least one adversarial step. Other models: unchanged. The
    plan is part of the model's config, so a resumed run keeps it (more steps: more
    adversarial steps)."""
    model = dict(settings["model"])
    if "encoder_steps" in model and steps != settings["steps"]:
        # text-to-image: the encoders' share of the run kept, and at least one GAN step
        # from 2 steps on
        e = max(1, steps * model["encoder_steps"] // settings["steps"])
        model["encoder_steps"] = min(e, max(1, steps - 1))
        return model
    if "pretrain_g_steps" not in model or steps == settings["steps"]:
        return model
    g0, d0, total = model["pretrain_g_steps"], model["pretrain_d_steps"], settings["steps"]
    g, d = max(1, steps * g0 // total), max(1, steps * d0 // total)
    while g + d > steps - 1 and (g > 1 or d > 1):       # leave room for adversarial steps
        if g >= d:
            g -= 1
        else:
            d -= 1
    model.update(pretrain_g_steps=g, pretrain_d_steps=d)
    return model
