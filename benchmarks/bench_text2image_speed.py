"""One text-to-image GAN training step in minigan against the same step in PyTorch, each in its
own process.

    python benchmarks/bench_text2image_speed.py                  # full run, ~5 min on 2 quiet cores
    python benchmarks/bench_text2image_speed.py --quick          # a smoke run: 2 rounds of 3 steps
    python benchmarks/bench_text2image_speed.py --threads 1 --configs preset --rounds 9
    python benchmarks/bench_text2image_speed.py --rounds 1 --steps 3 --json /tmp/t2i.json

What is timed: ``Text2Image.train_step`` (minigan.gans.text2image) in its GAN phase (the model
built with ``encoder_steps=0``: the encoders keep their random initial weights, which changes
nothing a step computes but the numbers), on one fixed batch of 64 captioned shapes
(``load_captioned_shapes("train").batches(64, seed=0).batch_at(0)``: images (64, 3, 16, 16),
tokens (64, 12), attributes (64, 4)), and the same step written in PyTorch (CPU, float32) the
plain way, with autograd, and with the same networks, built from the same settings:

  ``preset``     the settings of ``minigan train text2image`` (minigan.presets, "text2image" /
                 "shapes"): GAN-INT-CLS with the sentence matching loss (λ = 1, γ = 10), latent 16,
                 text embedding 32, projection 16, width 32, Adam(5e-4, β = (0.5, 0.999));
  ``attention``  the same with ``attention=True``: AttnGAN's word attention in G at 8×8.

The networks (same layers, shapes, parameter names and initialisation as minigan's):

  text encoder φ (frozen)  Embedding(42, 32, padding_idx=0) → Conv1d(32, 64, 3, p1) → ReLU (the
                           word features (N, 64, 12)) → MaxPool1d(2) → LSTM(64, 64) → mean over
                           time → Linear(64, 32)
  image encoder θ (frozen) Conv 4×4 s2 (3→32) → LReLU → Conv 4×4 s2 (32→64) → LReLU → Flatten →
                           Linear(1024, 32)
  G(z, φ(t))               p = LReLU(Linear(32, 16) φ); [z, p] → Linear(32, 1024, no bias) →
                           (64, 4, 4) → BN → ReLU → ConvT 4×4 s2 (64→32, no bias) → BN → ReLU →
                           [word attention U (32×64): context concatenated, 64 channels] →
                           ConvT 4×4 s2 (→3) → tanh
  D(x, φ(t))               Conv 4×4 s2 (3→32) → LReLU → Conv 4×4 s2 (32→64, no bias) → BN → LReLU;
                           p_D = LReLU(Linear(32, 16) φ) replicated over 4×4 and concatenated →
                           Conv 1×1 (80→64, no bias) → BN → LReLU → Flatten → Linear(1024, 1)

The step, the same in both (per step: text encoder 1 forward; G 3 forwards, 2 backwards;
D 5 forwards, 5 backwards; image encoder 1 forward, 1 backward; the check below counts them
on both sides and asserts they agree):

  (sent, words) = φ(tokens)                          frozen: torch.no_grad()
  D step: fake = G(z₁, sent, words, mask)            (no gradient needed: torch.no_grad())
          L_D = BCE(D(x, sent), 1) + ½ BCE(D(fake, sent), 0) + ½ BCE(D(x, sent[wrong]), 0)
          (wrong: a partner of another description), backward, Adam step on D
  G step: fake = G(z₂, sent, words, mask);  L_G = BCE(D(fake, sent), 1)
          + λ · sentence_matching_loss(θ(fake), sent, γ, same)   (θ frozen: requires_grad_(False),
            its input gradient flows into G)
          + BCE(D(G(z₃, s_int, w_int, m_int), s_int), 1)    (GAN-INT, s_int = ½ sent + ½
            sent[perm], w_int / m_int both captions' word features / masks concatenated)
          backward (through D too, into D's weight gradients, as minigan does; cleared before D's
          next step), Adam step on G;  the step's numbers (losses, mean D outputs) read as floats.

minigan does a little more than PyTorch's autograd here, by design of its hand-written
backward: its image encoder's backward also computes the (discarded) weight gradients of θ,
its word attention the (discarded) gradient of the word features, and its forward passes keep
caches even where no backward follows (the D step's G, the frozen text encoder).

Every measurement runs in a fresh process (``--worker minigan|torch``), exactly as
bench_pix2pix_speed.py (whose helpers this script imports): it sets the thread environment
(OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS) before importing anything, builds the model, runs
``--warmup`` steps, times ``--steps`` steps one by one and prints their times as JSON. The
parent imports neither library; for each round it runs, for every config and thread count,
one minigan process and one PyTorch process, alternating which goes first (ABBA). It reports,
per (config, threads), the median over rounds of each process's median ms/step and the ratio
minigan / PyTorch of those medians, with the range of the per-round (paired) ratios. Why
separate processes: in one process the two libraries' thread pools (OpenMP for PyTorch,
OpenBLAS + numba for minigan) disturb each other. Threads: numba, minigan's BLAS (through
threadpoolctl, as bench_pix2pix_speed.py; note that ``minigan train`` itself runs this model's
BLAS on ``model.blas_threads`` = 1 thread, recorded in the report) and PyTorch's intra-op pool
all get ``--threads``.

The batch is made once by a ``--worker data`` process (minigan's data, no PyTorch) and written
to a temporary .npz that both kinds of worker read, so both step on the same arrays; it also
resolves the preset's settings for the PyTorch side.

Before timing, a check process per config (``--worker check``, untimed, the only one that
imports both) asserts: the same parameter names and shapes in all four networks; with
minigan's weights copied into PyTorch, the same outputs (text encoder, G, D, image encoder:
shapes equal, values within float32 rounding); then three training steps on both with the same
random draws (minigan's z's, wrong partners and INT permutation handed to PyTorch): the same
forward and backward counts per network per step (minigan's methods wrapped, PyTorch's modules
hooked), finite losses, and the losses of the three steps equal (relative 1e-3 for the first;
1e-2 for the next two, as Adam's first steps are lr·sign(g) and a gradient near 0 whose sign
rounds differently moves them apart; measured here they agree to ~1e-7 in all three).
Each timing worker also reports its per-layer parameter counts; the parent asserts they agree.

PyTorch is needed only here (a CPU build: ``pip install torch==2.13.0 --index-url
https://download.pytorch.org/whl/cpu``); it is not a dependency of minigan. No test runs this:
timings are reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# stdlib-only at import time: safe to import before the thread environment is set
from bench_pix2pix_speed import run_worker as _run_worker  # noqa: E402
from bench_pix2pix_speed import (
    ROOT,
    THREAD_VARS,
    blas_summary,
    layer_counts,
    loadavg,
    machine_info,
    minigan_info,
    pool_info,
    set_thread_env,
    torch_info,
    torch_init_,
)

DEFAULT_JSON = os.path.join("benchmarks", "results", "text2image_speed.json")
BATCH = 64
# The timed configurations: the preset's settings plus these changes (encoder_steps=0 always).
CONFIGS = {"preset": {}, "attention": {"attention": True}}
NETS = ("G", "D", "text_encoder", "image_encoder")
LOG_KEYS = ("loss_d", "loss_g", "d_real", "d_wrong", "d_fake", "matching_loss")
# Forward and backward passes of one GAN step, per network (the check asserts these on both).
EXPECTED_PASSES = {"text_encoder": (1, 0), "G": (3, 2), "D": (5, 5), "image_encoder": (1, 1)}


def describe(cfg: dict) -> str:
    m = cfg["model"]
    parts = [f"z {m['latent_dim']}, text {m['text_dim']}, proj {m['proj_dim']}, width "
             + str(m["width"])]
    parts.append("CLS" if m["matching"] else "no CLS")
    parts.append("INT" if m["interpolate"] else "no INT")
    parts.append(f"match λ {m['matching_weight']:g}")
    parts.append("attention" if m["attention"] else "no attention")
    return ", ".join(parts) + f", batch {cfg['batch']}"


# =============================================================================================
# The workers (each runs in its own process)
# =============================================================================================

# --- data: the batch and the resolved settings (minigan's data; no PyTorch) -------------------

def data_worker(configs, path):
    import numpy as np

    from minigan.data.captions import MAX_WORDS, VOCAB, load_captioned_shapes
    from minigan.gans.text2image import Text2Image
    from minigan.presets import preset

    images, tokens, lengths, attrs = load_captioned_shapes("train").batches(
        BATCH, seed=0).batch_at(0)
    np.savez(path, images=np.asarray(images, np.float32), tokens=np.asarray(tokens, np.int64),
             lengths=np.asarray(lengths, np.int64), attrs=np.asarray(attrs, np.int64))
    base = preset("text2image", "shapes")["model"]
    out = {}
    for name, changes in configs.items():
        # every setting, the constructor's defaults included: the model's own config
        model = dict(Text2Image(**dict(base, **changes, encoder_steps=0)).config)
        model.pop("vocab")
        out[name] = {"name": name, "changes": changes, "model": model, "batch": BATCH,
                     "vocab_size": len(VOCAB.words), "max_words": MAX_WORDS, "batch_file": path}
    return {"configs": out, "shapes": {"images": list(images.shape),
                                       "tokens": list(tokens.shape),
                                       "attrs": list(attrs.shape)}}


def load_batch(path):
    import numpy as np
    with np.load(path) as f:
        return f["images"], f["tokens"], f["lengths"], f["attrs"]


# --- minigan ---------------------------------------------------------------------------------

def minigan_model(cfg, seed=0):
    from minigan.data.captions import VOCAB
    from minigan.gans.text2image import Text2Image
    kwargs = dict(cfg["model"], vocab=list(VOCAB.words), max_words=cfg["max_words"], seed=seed)
    model = Text2Image(**kwargs)
    assert model.phase == "gan", model.phase
    return model


def minigan_named(model):
    return [(f"{net}.{n}", p.size) for net in NETS
            for n, p, _ in getattr(model, net).named_parameters()]


def minigan_worker(cfg, threads, steps, warmup):
    import minigan  # noqa: F401  (first, as its CLI and notebooks: minigan/_threads.py)
    import numba
    import numpy as np

    from minigan.backend import blas_threads

    numba.set_num_threads(threads)
    with blas_threads(threads):
        model = minigan_model(cfg)
        batch = load_batch(cfg["batch_file"])
        for _ in range(warmup):
            model.train_step(batch)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            logs = model.train_step(batch)
            times.append(time.perf_counter() - t0)
        pools = pool_info()
    assert all(np.isfinite(logs[k]) for k in LOG_KEYS), logs
    return {"times_s": times, "last_logs": {k: float(logs[k]) for k in LOG_KEYS},
            "param_counts": layer_counts(minigan_named(model)),
            "info": minigan_info(pools)
            | {"model_blas_threads": getattr(model, "blas_threads", None)}}


# --- PyTorch ---------------------------------------------------------------------------------

def torch_networks(torch, cfg):
    """(text encoder, image encoder, G, D) as minigan's TextEncoder, ImageEncoder,
    TextGenerator and TextDiscriminator, layer for layer, with the same parameter names."""
    nn = torch.nn
    m = cfg["model"]
    C, H, W = m["data_shape"]
    E, P, w, L = m["text_dim"], m["proj_dim"], m["width"], m["latent_dim"]

    class TextEncoder(nn.Module):
        def __init__(self, vocab_size, embed_dim=32, channels=64, hidden=64, out_dim=E):
            super().__init__()
            self.channels = channels
            self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
            self.conv = nn.Conv1d(embed_dim, channels, 3, padding=1)
            self.relu = nn.ReLU()
            self.pool = nn.MaxPool1d(2)
            self.lstm = nn.LSTM(channels, hidden, batch_first=True)
            self.proj = nn.Linear(hidden, out_dim)

        def forward(self, tokens):
            words = self.relu(self.conv(self.embed(tokens).transpose(1, 2)))     # (N, C, T)
            y, _ = self.lstm(self.pool(words).transpose(1, 2))                   # (N, T/2, H)
            return self.proj(y.mean(dim=1)), words

    class ImageEncoder(nn.Module):
        def __init__(self, width=32, out_dim=E):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(C, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                nn.Flatten(), nn.Linear(2 * width * (H // 4) * (W // 4), out_dim))

        def forward(self, x):
            return self.net(x)

    class WordAttention(nn.Module):
        """AttnGAN's F^attn: each region's context from its caption's words (padding: 0)."""

        def __init__(self, region_channels, word_channels):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(region_channels, word_channels))
            nn.init.normal_(self.weight, 0.0, 0.02)

        def forward(self, h, words, mask):
            N, Cr, Hh, Wh = h.shape
            keep = mask[:, None, :]                                    # (N, 1, T)
            e = torch.matmul(self.weight, words.masked_fill(~keep, 0.0))  # (N, C, T)
            r = h.reshape(N, Cr, Hh * Wh)
            s = torch.matmul(r.transpose(1, 2), e).masked_fill(~keep, float("-inf"))
            a = torch.softmax(s, dim=2)                                # (N, HW, T)
            return torch.matmul(e, a.transpose(1, 2)).reshape(N, Cr, Hh, Wh)

    class TextGenerator(nn.Module):
        def __init__(self, attention, word_dim=64):
            super().__init__()
            self.proj = nn.Sequential(nn.Linear(E, P), nn.LeakyReLU(0.2))
            self.stage1 = nn.Sequential(
                nn.Linear(L + P, 2 * w * (H // 4) * (W // 4), bias=False),
                nn.Unflatten(1, (2 * w, H // 4, W // 4)), nn.BatchNorm2d(2 * w), nn.ReLU(),
                nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(w), nn.ReLU())
            self.attn = WordAttention(w, word_dim) if attention else None
            self.stage2 = nn.Sequential(
                nn.ConvTranspose2d(w * (2 if attention else 1), C, 4, stride=2, padding=1),
                nn.Tanh())

        def forward(self, z, sent, words, mask):
            h = self.stage1(torch.cat([z, self.proj(sent)], 1))
            if self.attn is not None:
                h = torch.cat([h, self.attn(h, words, mask)], 1)
            return self.stage2(h)

    class TextDiscriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Sequential(nn.Linear(E, P), nn.LeakyReLU(0.2))
            self.body = nn.Sequential(
                nn.Conv2d(C, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2))
            self.head = nn.Sequential(
                nn.Conv2d(2 * w + P, 2 * w, 1, bias=False), nn.BatchNorm2d(2 * w),
                nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * w * (H // 4) * (W // 4), 1))

        def forward(self, x, sent):
            f = self.body(x)
            p = self.proj(sent)
            maps = p[:, :, None, None].expand(-1, -1, f.shape[2], f.shape[3])
            return self.head(torch.cat([f, maps], 1))

    text_enc = TextEncoder(cfg["vocab_size"])
    image_enc = ImageEncoder()
    G, D = TextGenerator(m["attention"]), TextDiscriminator()
    return text_enc, image_enc, G, D


def torch_wrong_partner(torch, attrs):
    """minigan's mismatched_partner in PyTorch: a random permutation, then, where it picked an
    example of the same description, the next one that differs."""
    N = len(attrs)
    perm = torch.randperm(N)
    for i in (attrs[perm] == attrs).all(dim=1).nonzero().flatten().tolist():
        for k in range(1, N):
            j = (int(perm[i]) + k) % N
            if bool((attrs[j] != attrs[i]).any()):
                perm[i] = j
                break
    return perm


def torch_matching_loss(torch, v, t, gamma, same):
    """DAMSM's sentence loss, as minigan.nn.matching.sentence_matching_loss (autograd)."""
    F = torch.nn.functional
    N = v.shape[0]
    S = F.normalize(v, dim=1, eps=0.0) @ F.normalize(t, dim=1, eps=0.0).T
    logits = (gamma * S).masked_fill(same & ~torch.eye(N, dtype=torch.bool), float("-inf"))
    idx = torch.arange(N)
    return -(torch.log_softmax(logits, 1)[idx, idx].sum()
             + torch.log_softmax(logits.T, 1)[idx, idx].sum()) / N


def torch_step_fn(torch, nets, cfg, batch):
    """Text2Image.train_step's GAN phase in PyTorch. ``step(draws=None)``: draws, when given,
    is a dict of the step's random numbers (z_d, wrong, z_g, perm, z_i; the check hands it
    minigan's), else they are drawn with torch. Returns minigan's logs as floats."""
    F = torch.nn.functional
    m = cfg["model"]
    text_enc, image_enc, G, D = nets
    images, tokens, _, attrs = batch
    lr_g, lr_d, betas = m["lr_g"], m["lr_d"], tuple(m["betas"])
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas)
    text_enc.requires_grad_(False)           # the encoders are frozen
    image_enc.requires_grad_(False)
    N, latent = len(images), m["latent_dim"]
    beta, iw, mw, gamma = m["beta"], m["interp_weight"], m["matching_weight"], m["gamma"]
    fake_weight = 0.5 if m["matching"] else 1.0

    def bce(s, target):
        return F.binary_cross_entropy_with_logits(s, torch.full_like(s, target))

    def step(draws=None):
        def draw(name, fn):
            return draws[name] if draws is not None else fn()

        logs = dict.fromkeys(LOG_KEYS, 0.0)
        with torch.no_grad():
            sent, words = text_enc(tokens)
        mask = tokens != 0
        # D: real/right text -> 1, fake -> 0 (½), real/wrong text -> 0 (½)
        opt_d.zero_grad()
        with torch.no_grad():
            fake = G(draw("z_d", lambda: torch.randn(N, latent)), sent, words, mask)
        s_real = D(images, sent)
        s_fake = D(fake, sent)
        loss_d = bce(s_real, 1.0) + fake_weight * bce(s_fake, 0.0)
        if m["matching"]:
            wrong = draw("wrong", lambda: torch_wrong_partner(torch, attrs))
            s_wrong = D(images, sent[wrong])
            loss_d = loss_d + 0.5 * bce(s_wrong, 0.0)
        loss_d.backward()
        opt_d.step()
        # G: fool D on (G(z, t), t) and on interpolated texts; match the caption
        opt_g.zero_grad()
        fake = G(draw("z_g", lambda: torch.randn(N, latent)), sent, words, mask)
        s = D(fake, sent)
        loss_g = bce(s, 1.0)
        if mw:
            same = (attrs[:, None, :] == attrs[None, :, :]).all(dim=2)
            m_loss = torch_matching_loss(torch, image_enc(fake), sent, gamma, same)
            loss_g = loss_g + mw * m_loss
        if m["interpolate"]:
            perm = draw("perm", lambda: torch.randperm(N))
            s_int = beta * sent + (1 - beta) * sent[perm]
            w_int = torch.cat([words, words[perm]], 2)       # both captions' words
            m_int = torch.cat([mask, mask[perm]], 1)
            fake_i = G(draw("z_i", lambda: torch.randn(N, latent)), s_int, w_int, m_int)
            loss_g = loss_g + iw * bce(D(fake_i, s_int), 1.0)
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            logs["d_real"] = torch.sigmoid(s_real).mean().item()
            logs["d_fake"] = torch.sigmoid(s_fake).mean().item()
            if m["matching"]:
                logs["d_wrong"] = torch.sigmoid(s_wrong).mean().item()
        logs["loss_d"], logs["loss_g"] = loss_d.item(), loss_g.item()
        if mw:
            logs["matching_loss"] = m_loss.item()
        return logs
    return step


def torch_setup(torch, cfg, seed=0):
    import numpy as np
    torch.manual_seed(seed)
    nets = torch_networks(torch, cfg)
    gen = torch.Generator().manual_seed(seed)
    for net in nets[2:]:                     # G and D as minigan's: DCGAN's initialisation
        torch_init_(torch, net, gen)
    for net in nets:
        net.train()
    images, tokens, lengths, attrs = (torch.from_numpy(np.ascontiguousarray(a))
                                      for a in load_batch(cfg["batch_file"]))
    return nets, (images, tokens, lengths, attrs)


def torch_named(nets):
    return [(f"{net}.{n}", p.numel()) for net, mod in zip(("text_encoder", "image_encoder", "G",
                                                           "D"), nets)
            for n, p in mod.named_parameters()]


def torch_worker(cfg, threads, steps, warmup):
    import math

    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)  # unused by this step; as many as the intra-op pool
    nets, batch = torch_setup(torch, cfg)
    step = torch_step_fn(torch, nets, cfg, batch)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        logs = step()
        times.append(time.perf_counter() - t0)
    assert all(math.isfinite(logs[k]) for k in LOG_KEYS), logs
    return {"times_s": times, "last_logs": logs,
            "param_counts": layer_counts(torch_named(nets)), "info": torch_info(torch)}


# --- the check: the same networks, the same passes, the same first step ----------------------

def check_worker(cfg, threads):
    """Asserts (raises AssertionError) that minigan's and the PyTorch networks are the same
    (names, shapes, outputs on the same weights) and that the two steps make the same passes
    and, on the same weights and random draws, the same first step."""
    import numba
    import numpy as np
    import torch

    from minigan.backend import blas_threads
    from minigan.gans.base import step_rng
    from minigan.gans.text2image import mismatched_partner, word_mask

    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    report = {}
    with blas_threads(threads):
        model = minigan_model(cfg)
        nets, batch = torch_setup(torch, cfg)
        t_nets = dict(zip(("text_encoder", "image_encoder", "G", "D"), nets))
        # 1. the same parameters, then minigan's weights copied into PyTorch
        with torch.no_grad():
            for net in NETS:
                m_p = {n: p for n, p, _ in getattr(model, net).named_parameters()}
                t_p = dict(t_nets[net].named_parameters())
                m_shapes = {n: tuple(p.shape) for n, p in m_p.items()}
                t_shapes = {n: tuple(p.shape) for n, p in t_p.items()}
                assert m_shapes == t_shapes, (f"{net}: parameters differ:\n minigan {m_shapes}"
                                              f"\n torch {t_shapes}")
                report[f"{net}_params"] = int(sum(p.size for p in m_p.values()))
                for n, p in m_p.items():
                    t_p[n].copy_(torch.from_numpy(np.array(p)))
        images, tokens, lengths, attrs = load_batch(cfg["batch_file"])
        t_images, t_tokens, _, _ = batch
        mask = word_mask(tokens)

        # 2. the same outputs (training mode, as in the step)
        rng = np.random.default_rng(5)
        z = rng.standard_normal((len(images), model.latent_dim)).astype(np.float32)
        sent, words = model.text_encoder.encode(tokens)
        g = np.asarray(model.G.forward(z, sent, words, mask)[0])
        d = np.asarray(model.D.forward(images, sent)[0])
        v = np.asarray(model.image_encoder.forward(images)[0])
        with torch.no_grad():
            t_sent, t_words = t_nets["text_encoder"](t_tokens)
            t_g = t_nets["G"](torch.from_numpy(z), t_sent, t_words, t_tokens != 0).numpy()
            t_d = t_nets["D"](t_images, t_sent).numpy()
            t_v = t_nets["image_encoder"](t_images).numpy()
        outputs = {"sentence": (sent, t_sent.numpy()), "words": (words, t_words.numpy()),
                   "G": (g, t_g), "D": (d, t_d), "image_encoder": (v, t_v)}
        report["shapes"] = {}
        for name, (a, b) in outputs.items():
            a = np.asarray(a)
            assert a.shape == b.shape, f"{name}: minigan {a.shape} != torch {b.shape}"
            diff = float(np.abs(a - b).max())
            report["shapes"][name] = list(a.shape)
            report[f"{name}_max_abs_diff"] = diff
            assert diff <= 1e-4 * max(1.0, float(np.abs(b).max())), (name, diff)
        assert report["shapes"]["G"] == [cfg["batch"], *cfg["model"]["data_shape"]]

        # 3. three steps with the same draws: passes counted, losses compared
        m_counts, t_counts = {}, {}

        def count_minigan(net, method, slot):
            obj = getattr(model, net)
            fn = getattr(obj, method)

            def wrapped(*a, **k):
                m_counts[net][slot] += 1
                return fn(*a, **k)
            setattr(obj, method, wrapped)

        for net in NETS:
            count_minigan(net, "forward", 0)
            count_minigan(net, "backward", 1)
            if hasattr(getattr(model, net), "forward_regions"):   # the image encoder's pass
                count_minigan(net, "forward_regions", 0)          # with its region features
                count_minigan(net, "backward_regions", 1)         # (the step's word loss)

        def count_torch(net):
            def on_backward(grad):
                t_counts[net][1] += 1

            def hook(module, inputs, output):
                t_counts[net][0] += 1
                out = output[0] if isinstance(output, tuple) else output
                if out.requires_grad:
                    out.register_hook(on_backward)
            t_nets[net].register_forward_hook(hook)

        for net in NETS:
            count_torch(net)

        step = torch_step_fn(torch, nets, cfg, batch)
        losses = []
        for k in range(3):
            r = step_rng(model.seed, model.step)     # the draws of minigan's step, in order
            draws = {"z_d": model.noise(len(images), r)}
            if cfg["model"]["matching"]:
                draws["wrong"] = mismatched_partner(attrs, r)
            draws["z_g"] = model.noise(len(images), r)
            if cfg["model"]["interpolate"]:
                draws["perm"] = r.permutation(len(images))
                draws["z_i"] = model.noise(len(images), r)
            draws = {n: torch.from_numpy(np.asarray(a)) for n, a in draws.items()}
            for counts in (m_counts, t_counts):
                counts.update({net: [0, 0] for net in NETS})
            lm = model.train_step((images, tokens, lengths, attrs))
            lt = step(draws)
            m_passes = {n: tuple(c) for n, c in m_counts.items()}
            t_passes = {n: tuple(c) for n, c in t_counts.items()}
            assert m_passes == t_passes, f"step {k}: passes minigan {m_passes} != torch {t_passes}"
            if cfg["model"]["matching"] and cfg["model"]["interpolate"] \
                    and cfg["model"]["matching_weight"]:
                assert m_passes == EXPECTED_PASSES, m_passes
            report["passes_per_step"] = {n: {"forward": f, "backward": b}
                                         for n, (f, b) in m_passes.items()}
            for key in LOG_KEYS:
                assert np.isfinite(lm[key]) and np.isfinite(lt[key]), (k, key, lm, lt)
            rel = {key: abs(lm[key] - lt[key]) / max(1.0, abs(lt[key])) for key in LOG_KEYS}
            losses.append({"step": k, "minigan": {key: float(lm[key]) for key in LOG_KEYS},
                           "torch": lt, "max_rel_diff": max(rel.values())})
            # (measured: all three agree to ~1e-7; later steps get a looser bound, see above)
            tol = 1e-3 if k == 0 else 1e-2
            assert max(rel.values()) <= tol, f"step {k}: minigan {lm} != torch {lt}"
        report["losses"] = losses
    return report


def worker_main(args):
    (threads,) = args.threads               # a worker runs on one thread count
    set_thread_env(threads)                 # before numpy, numba or torch is imported
    sys.path.insert(0, ROOT)
    cfg = json.loads(args.config)
    if args.worker == "data":
        out = data_worker(cfg["configs"], cfg["path"])
    elif args.worker == "check":
        out = check_worker(cfg, threads)
    else:
        fn = minigan_worker if args.worker == "minigan" else torch_worker
        out = fn(cfg, threads, args.steps, args.warmup)
        out["median_s"] = statistics.median(out["times_s"])
    out["thread_env"] = {v: os.environ.get(v) for v in THREAD_VARS}
    print(json.dumps(out))
    sys.stdout.flush()


# =============================================================================================
# The parent (imports neither library)
# =============================================================================================

def run_worker(kind, cfg, threads, steps=0, warmup=0):
    """This file as a worker process (bench_pix2pix_speed's runner)."""
    return _run_worker(kind, cfg, threads, steps, warmup, script=__file__)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, help="rounds of minigan/PyTorch process pairs "
                    "(default 7; --quick 2)")
    ap.add_argument("--steps", type=int, help="timed steps per process (default 20; --quick 3)")
    ap.add_argument("--warmup", type=int, help="untimed steps first (default 3; --quick 1)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="thread counts (default 1 2)")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS),
                    help="preset: minigan train text2image's settings; attention: the same "
                         "with attention=True (default: both)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds of 3 steps")
    ap.add_argument("--no-check", action="store_true",
                    help="skip the (untimed) same-network check before timing")
    ap.add_argument("--json", metavar="PATH", default=DEFAULT_JSON,
                    help=f"write the results as JSON here (default {DEFAULT_JSON}; '' : not)")
    ap.add_argument("--worker", choices=("minigan", "torch", "check", "data"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args)

    rounds = args.rounds or (2 if args.quick else 7)
    steps = args.steps or (3 if args.quick else 20)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    machine = machine_info()
    machine["loadavg_start"] = loadavg()
    print(f"Text2Image GAN step, minigan vs PyTorch in separate processes: {machine['cpu']} "
          f"({machine['cpus']} CPUs; {' '.join(machine['simd_flags'])}), Python "
          f"{machine['python']}, git {machine.get('git')}")
    print(f"{rounds} rounds x (minigan, PyTorch) processes alternated; {warmup} warm-up + "
          f"{steps} timed steps each; threads {args.threads}; configs {args.configs}; load "
          f"average {machine['loadavg_start']}", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench_t2i_") as tmp:
        data = run_worker("data", {"configs": {c: CONFIGS[c] for c in args.configs},
                                   "path": os.path.join(tmp, "batch.npz")}, 1)
        configs = data["configs"]
        print(f"batch: images {data['shapes']['images']}, tokens {data['shapes']['tokens']}, "
              f"attrs {data['shapes']['attrs']} (captioned shapes, train, batch_at(0))",
              flush=True)

        checks = {}
        if not args.no_check:
            for name, cfg in configs.items():
                t0 = time.perf_counter()
                c = checks[name] = run_worker("check", cfg, 1)
                passes = ", ".join(f"{n} {p['forward']}/{p['backward']}"
                                   for n, p in c["passes_per_step"].items())
                print(f"check {name}: same parameters (G {c['G_params']:,}, D {c['D_params']:,}, "
                      f"text encoder {c['text_encoder_params']:,}, image encoder "
                      f"{c['image_encoder_params']:,}); same weights: max |G diff| "
                      f"{c['G_max_abs_diff']:.1e}, |D diff| {c['D_max_abs_diff']:.1e}; "
                      f"forward/backward passes per step, both: {passes}; step 1 losses "
                      f"within {c['losses'][0]['max_rel_diff']:.1e}, steps 2-3 "
                      f"{max(s['max_rel_diff'] for s in c['losses'][1:]):.1e} (relative) "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)

        keys = [(name, t) for name in configs for t in args.threads]
        raw = {k: {"minigan": [], "torch": []} for k in keys}
        infos, last_logs = {}, {}
        t_start = time.perf_counter()
        for r in range(rounds):
            order = ("minigan", "torch") if r % 2 == 0 else ("torch", "minigan")
            for name, threads in keys:
                counts = {}
                for kind in order:
                    out = run_worker(kind, configs[name], threads, steps, warmup)
                    raw[(name, threads)][kind].append(out["median_s"])
                    counts[kind] = out["param_counts"]
                    infos.setdefault(kind, {}).setdefault(threads, out["info"])
                    last_logs.setdefault(name, {})[kind] = out["last_logs"]
                assert counts["minigan"] == counts["torch"], \
                    f"{name}: per-layer parameter counts differ: {counts}"
            print(f"round {r + 1}/{rounds} done ({time.perf_counter() - t_start:.0f} s, load "
                  f"average {loadavg()})", flush=True)
    machine["loadavg_end"] = loadavg()

    rows = []
    for name, threads in keys:
        m, t = raw[(name, threads)]["minigan"], raw[(name, threads)]["torch"]
        paired = [a / b for a, b in zip(m, t)]
        cfg = {k: v for k, v in configs[name].items() if k != "batch_file"}
        rows.append({"config": name, "settings": cfg, "threads": threads,
                     "minigan_ms": 1e3 * statistics.median(m),
                     "torch_ms": 1e3 * statistics.median(t),
                     "ratio": statistics.median(m) / statistics.median(t),
                     "paired_ratio_min": min(paired), "paired_ratio_max": max(paired),
                     "minigan_round_ms": [1e3 * v for v in m],
                     "torch_round_ms": [1e3 * v for v in t]})

    mg, pt = infos["minigan"][args.threads[0]], infos["torch"][args.threads[0]]
    print()
    print(f"Machine: {machine['cpu']}, {machine['cpus']} CPUs ({machine.get('cpus_usable')} "
          "usable), "
          f"flags {' '.join(machine['simd_flags'])}; {machine['platform']}; load average "
          f"{machine['loadavg_start']} -> {machine['loadavg_end']}; {machine['date_utc']} UTC")
    print(f"minigan: NumPy {mg['numpy']} ({mg['numpy_blas']}), numba {mg['numba']} (threading "
          f"layer {mg['numba_threading_layer']}), kernels {mg['minigan_kernels']}; pools: "
          f"{blas_summary(mg['pools'])} (model.blas_threads = {mg['model_blas_threads']}; "
          "here every pool gets --threads)")
    print(f"PyTorch: {pt['torch']} (CPU capability {pt['cpu_capability']}, oneDNN "
          f"{pt['mkldnn']}, MKL {pt['mkl']}, {pt['parallel_backend']}); pools: "
          f"{blas_summary(pt['pools'])}")
    if machine["openblas_env"]:
        print("OpenBLAS environment (inherited by the workers): "
              + " ".join(f"{k}={v}" for k, v in machine["openblas_env"].items()))
    print(f"Median over {rounds} rounds of each process's median of {steps} steps (after "
          f"{warmup} warm-up); ratio = minigan / PyTorch; range: the per-round paired "
          "ratios.\n")
    print("| config | settings | threads | minigan ms/step | PyTorch ms/step | ratio | "
          "ratio range |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['config']} | {describe(row['settings'])} | {row['threads']} | "
              f"{row['minigan_ms']:.1f} | {row['torch_ms']:.1f} | {row['ratio']:.2f} | "
              f"{row['paired_ratio_min']:.2f}-{row['paired_ratio_max']:.2f} |")
    results = {"machine": machine, "rounds": rounds, "steps": steps, "warmup": warmup,
               "threads": args.threads, "configs": args.configs, "rows": rows,
               "workers": {k: {str(t): v for t, v in d.items()} for k, d in infos.items()},
               "last_logs": last_logs, "checks": checks}
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main()
