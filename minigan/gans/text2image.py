"""Text-to-image synthesis (Reed et al. 2016, "Generative Adversarial Text to Image Synthesis"),
with word attention and a matching loss in the manner of AttnGAN (Xu et al. 2018).

Chapter 6's conditional GAN, with a sentence in place of the label. Three pieces:

**1. A text encoder φ, trained first, then frozen.** Reed's char-CNN-RNN, over words here
(:class:`TextEncoder`): word embeddings → a temporal convolution (each word in its
three-word context: these are the *word features*, (N, C, T)) → ReLU → temporal max pooling
(T → T/2) → an LSTM → its hidden states averaged over time → a linear map: the sentence
embedding φ(t) (N, E). It is trained against a small image encoder θ (:class:`ImageEncoder`)
with Reed's symmetric structured joint embedding (:func:`minigan.nn.matching.joint_embedding_loss`:
an image must score its own caption above captions of other descriptions, and a caption its
image above images of other descriptions), for ``encoder_steps`` steps; then both stay fixed.

**2. A GAN conditioned on φ(t)** (:class:`TextGenerator`, :class:`TextDiscriminator`). The
embedding is first compressed, p = LeakyReLU(W φ(t)) (P numbers, Reed's "projection"), and

    G: [z, p] → DCGAN's generator → image;
    D: image → DCGAN's convolutions → (N, 2w, 4, 4), p_D replicated over the 4×4 map and
       concatenated (chapter 6's label maps, generalised) → 1×1 conv → logit.

Reed's two additions, each a switch:

- **GAN-CLS** (``matching=True``, the matching-aware discriminator): D also sees real images
  with the *wrong* text and must call them fake. Plain D only asks "is this image real?", so
  G can ignore the text as long as its images look real; GAN-CLS also asks "does it match?".
  D's loss, weighted as in Reed's code (cls_weight 0.5):

      L_D = BCE(D(x, t), 1) + ½ BCE(D(x, t̂), 0) + ½ BCE(D(G(z, t), t), 0)     (t̂: wrong text)

- **GAN-INT** (``interpolate=True``): G's step adds fakes made from interpolated embeddings
  t_int = β φ(t₁) + (1 − β) φ(t₂) (β = 0.5), which have no real image but should still fool
  D: L_G += BCE(D(G(z, t_int), t_int), 1). That fills the space between captions. With word
  attention, t_int's words are both captions' words, weighted β and 1 − β in the attention
  (:func:`interpolated_words`; at β = ½ the plain softmax over all of them).

**3. Beyond the paper** (AttnGAN): **word attention** in G (``attention=True``): at 8×8, each
image region attends to the word features (:class:`minigan.nn.WordAttention`, softmax over the
words of the caption; padding excluded) and the attended word context is concatenated to the
region's features before the last upsampling; and a **sentence matching loss** for G
(``matching_weight`` λ > 0): the frozen image encoder θ must match G's image to its own caption
among the batch's captions, λ · :func:`~minigan.nn.matching.sentence_matching_loss` (DAMSM's
sentence half; its gradient goes back through θ, whose own weights stay fixed, into G), and
DAMSM's **word loss** (``word_matching_weight`` > 0, :func:`~minigan.nn.matching.
word_matching_loss`): each word of the caption attends over θ's 4×4 sub-regions of the image
(projected into the words' space by ``region_proj``) and is compared with what it found; the
encoders and the projection are then pretrained with both the joint embedding and this loss.

Training is one ``train_step`` walked by step number, as SeqGAN's phases: steps
[0, encoder_steps) train the encoders (``phase == "encoder"``), the rest the GAN. A batch is
what :meth:`~minigan.data.captions.CaptionedShapes.batches` gives: (images (N, 3, H, W), tokens
(N, T) integer (0 = padding), lengths (N,), attrs (N, K) integer: the attribute labels, which
only say which examples share a description: the joint embedding's and GAN-CLS's negatives are
examples of another description).

The style encoder S (an :class:`ImageEncoder` to z, :func:`train_style_encoder`) inverts G after
training: it minimises ‖z − S(G(z, φ(t)))‖², and then S(x) is the "style" of a real image x
(what the caption does not say: here the background and the jitter); G(S(x), φ(t')) redraws x
with another caption (style transfer).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import get_array_module, to_numpy
from ..nn import (BatchNorm2d, Conv2d, ConvTranspose2d, Embedding, Flatten, LeakyReLU, Linear,
                  LSTM, ReLU, Reshape, Sequential, Tanh, bce_with_logits)
from ..nn.matching import (cosine_matrix, joint_embedding_loss, mismatch_mask,
                           sentence_matching_loss, word_matching_loss)
from ..nn.module import Module
from ..nn.receptive import concat_channels, concat_channels_backward
from ..nn.temporal import Conv1d, MaxPool1d, WordAttention
from ..optim import Adam
from .base import GENERAL_SWITCHES, GANModel, bce_g_loss, mean_prob, step_rng
from .dcgan import dcgan_init_

PAD = 0


def word_mask(tokens):
    """True where a token is a word, False on padding (token 0)."""
    return tokens != PAD


# --- the encoders ------------------------------------------------------------------------------
class TextEncoder(Module):
    """tokens (N, T) → sentence embedding (N, out_dim) and word features (N, channels, T).

    Embedding(V, embed_dim, padding_idx=0) → Conv1d(embed_dim, channels, 3, padding=1) → ReLU
    (the word features) → MaxPool1d(2) → LSTM(channels, hidden) → mean over the T/2 steps
    → Linear(hidden, out_dim). T must be even (the pooling halves it)."""

    def __init__(self, vocab_size, max_words, embed_dim=32, channels=64, hidden=64, out_dim=32,
                 rng=None, dtype="float32"):
        super().__init__()
        if max_words % 2:
            raise ValueError(f"TextEncoder: max_words must be even (the pooling halves it), "
                             f"got {max_words}")
        rng = rng if rng is not None else backend.rng()
        self.max_words, self.out_dim, self.channels = int(max_words), int(out_dim), int(channels)
        self.embed = Embedding(vocab_size, embed_dim, padding_idx=PAD, rng=rng, dtype=dtype)
        self.conv = Conv1d(embed_dim, channels, 3, padding=1, rng=rng, dtype=dtype)
        self.relu = ReLU()
        self.pool = MaxPool1d(2)
        self.lstm = LSTM(channels, hidden, rng=rng, dtype=dtype)
        self.proj = Linear(hidden, out_dim, rng=rng, dtype=dtype)

    def children(self):
        return [("embed", self.embed), ("conv", self.conv), ("lstm", self.lstm),
                ("proj", self.proj)]

    def check_tokens(self, tokens):
        if not hasattr(tokens, "dtype") or tokens.dtype.kind not in "iu" or tokens.ndim != 2 \
                or tokens.shape[1] != self.max_words:
            what = (f"shape {tuple(tokens.shape)}, dtype {tokens.dtype}"
                    if hasattr(tokens, "dtype") else type(tokens).__name__)
            raise ValueError(f"TextEncoder: expected integer tokens of shape (N, "
                             f"{self.max_words}) (captions padded with 0), got {what}")
        return tokens

    def forward(self, tokens):
        """((sentence (N, E), words (N, C, T)), cache)."""
        self.check_tokens(tokens)
        xp = get_array_module(self.proj.params["weight"])
        e, c_embed = self.embed.forward(tokens)                       # (N, T, De)
        h, c_conv = self.conv.forward(xp.ascontiguousarray(e.transpose(0, 2, 1)))
        words, c_relu = self.relu.forward(h)                          # (N, C, T)
        pooled, c_pool = self.pool.forward(words)                     # (N, C, T/2)
        (y, _), c_lstm = self.lstm.forward(xp.ascontiguousarray(pooled.transpose(0, 2, 1)))
        sent, c_proj = self.proj.forward(y.mean(axis=1))
        return (sent, words), (c_embed, c_conv, c_relu, c_pool, c_lstm, c_proj, y.shape)

    def backward(self, dsent, cache, dwords=None):
        """Back from d sentence (N, E) and, optionally, d word features (N, C, T) (DAMSM's
        word loss, in the encoder phase) into every parameter; returns None (tokens)."""
        c_embed, c_conv, c_relu, c_pool, c_lstm, c_proj, y_shape = cache
        xp = get_array_module(dsent)
        dm = self.proj.backward(dsent, c_proj)
        dy = xp.broadcast_to(dm[:, None, :] / y_shape[1], y_shape).copy()
        dpooled, _, _ = self.lstm.backward(dy, c_lstm)
        dw = self.pool.backward(xp.ascontiguousarray(dpooled.transpose(0, 2, 1)), c_pool)
        if dwords is not None:
            dw = dw + dwords                   # the words feed the pooling and the word loss
        dh = self.conv.backward(self.relu.backward(dw, c_relu), c_conv)
        self.embed.backward(xp.ascontiguousarray(dh.transpose(0, 2, 1)), c_embed)
        return None

    def encode(self, tokens):
        """(sentence, words) without a cache, for the frozen encoder."""
        return self.forward(tokens)[0]


class ImageEncoder(Module):
    """images (N, C, H, W) → embedding (N, out_dim): Conv 4×4 s2 → LeakyReLU → Conv 4×4 s2
    → LeakyReLU → Flatten → Linear. The map before the Flatten, (N, 2·width, H/4, W/4), holds
    the sub-region features of DAMSM's word loss (:meth:`forward_regions`)."""

    def __init__(self, image_shape, width=32, out_dim=32, rng=None, dtype="float32"):
        super().__init__()
        C, H, W = image_shape
        rng = rng if rng is not None else backend.rng()
        self.region_channels = 2 * width
        self.net = Sequential(
            Conv2d(C, width, 4, stride=2, padding=1, rng=rng, dtype=dtype), LeakyReLU(0.2),
            Conv2d(width, 2 * width, 4, stride=2, padding=1, rng=rng, dtype=dtype),
            LeakyReLU(0.2), Flatten(),
            Linear(2 * width * (H // 4) * (W // 4), out_dim, rng=rng, dtype=dtype))

    def children(self):
        return [("net", self.net)]

    def forward(self, x):
        return self.net.forward(x)

    def backward(self, dy, cache):
        return self.net.backward(dy, cache)

    def forward_regions(self, x):
        """(embedding (N, out_dim), regions (N, 2·width, H/4·W/4)) and the cache of
        :meth:`backward_regions`: one pass through the same layers."""
        body, head = Sequential(*self.net.layers[:4]), Sequential(*self.net.layers[4:])
        f, c_body = body.forward(x)
        emb, c_head = head.forward(f)
        return emb, f.reshape(f.shape[0], f.shape[1], -1), (body, head, c_body, c_head, f.shape)

    def backward_regions(self, demb, dregions, cache):
        """dL/dx from the embedding's and the regions' gradients (either may be None)."""
        body, head, c_body, c_head, shape = cache
        xp = get_array_module(dregions if dregions is not None else demb)
        df = xp.zeros(shape, dtype=self.net.dtype) if dregions is None else \
            dregions.reshape(shape)
        if demb is not None:
            df = df + head.backward(demb, c_head)
        return body.backward(df, c_body)


def train_encoders(text_encoder, image_encoder, batch_fn, steps, lr=1e-3, margin=0.2):
    """Reed's joint embedding for ``steps`` steps of Adam on both encoders; batch_fn(step) →
    (images, tokens, lengths, attrs). Returns the losses. (The model's encoder phase is the same step.)"""
    opt = Adam([text_encoder, image_encoder], lr=lr)
    losses = []
    for step in range(steps):
        images, tokens, _, attrs = batch_fn(step)
        losses.append(joint_embedding_step(text_encoder, image_encoder, opt, images, tokens,
                                           attrs, margin=margin))
    return losses


def joint_embedding_step(text_encoder, image_encoder, opt, images, tokens, attrs, margin=0.2,
                         region_proj=None):
    """One Adam step of the joint embedding loss on a batch; returns the loss. With
    ``region_proj`` (a Linear from the image encoder's region channels to the word features'),
    DAMSM's word loss (:func:`~minigan.nn.matching.word_matching_loss`) is added, as AttnGAN
    pretrains its encoders with both."""
    opt.zero_grad()
    (sent, words), c_text = text_encoder.forward(tokens)
    mismatch = mismatch_mask(attrs)
    if region_proj is None:
        v, c_img = image_encoder.forward(images)
        loss, dv, dt = joint_embedding_loss(v, sent, mismatch, margin)
        text_encoder.backward(dt, c_text)
        image_encoder.backward(dv, c_img)
    else:
        v, feats, c_img = image_encoder.forward_regions(images)
        loss, dv, dt = joint_embedding_loss(v, sent, mismatch, margin)
        regions, c_proj = project_regions(region_proj, feats)
        loss_w, dregions, dwords = word_matching_loss(regions, words, word_mask(tokens),
                                                      same=~mismatch)
        text_encoder.backward(dt, c_text, dwords=dwords)
        image_encoder.backward_regions(dv, project_regions_backward(region_proj, dregions, c_proj),
                                       c_img)
        loss += loss_w
    opt.step()
    return loss


def project_regions(region_proj, feats):
    """Region features (N, C_r, R) → (N, C_w, R) by a Linear (C_r → C_w) applied to each region,
    and the cache."""
    xp = get_array_module(feats)
    N, C, R = feats.shape
    y, cache = region_proj.forward(xp.ascontiguousarray(feats.transpose(0, 2, 1)).reshape(N * R, C))
    return xp.ascontiguousarray(y.reshape(N, R, -1).transpose(0, 2, 1)), (cache, N, R, C)


def project_regions_backward(region_proj, dregions, cache):
    xp = get_array_module(dregions)
    c, N, R, C = cache
    dy = xp.ascontiguousarray(dregions.transpose(0, 2, 1)).reshape(N * R, -1)
    return xp.ascontiguousarray(region_proj.backward(dy, c).reshape(N, R, C).transpose(0, 2, 1))


def retrieval_accuracy(text_encoder, image_encoder, images, tokens, attrs):
    """Top-1 retrieval in a batch, both ways: (caption → image, image → caption), where a hit
    is any example of the same description (the attributes). Fractions in [0, 1]."""
    sent, _ = text_encoder.encode(tokens)
    v, _ = image_encoder.forward(images)
    S, _ = cosine_matrix(to_numpy(v).astype(np.float64), to_numpy(sent).astype(np.float64))
    same = ~to_numpy(mismatch_mask(attrs))
    img_to_txt = same[np.arange(len(S)), S.argmax(axis=1)].mean()
    txt_to_img = same[S.argmax(axis=0), np.arange(len(S))].mean()
    return float(txt_to_img), float(img_to_txt)


# --- the networks of the GAN --------------------------------------------------------------------
def projection(text_dim, proj_dim, dtype):
    """p = LeakyReLU(0.2)(W φ(t) + b): Reed's compression of the text embedding."""
    return Sequential(Linear(text_dim, proj_dim, dtype=dtype), LeakyReLU(0.2))


class TextGenerator(Module):
    """G(z, φ(t)) (module docstring): [z, p] → Linear → (2w, H/4, W/4) → BN, ReLU → ConvT →
    (w, H/2, W/2) → BN, ReLU → [word attention: concatenate the attended word context,
    (2w, H/2, W/2)] → ConvT → (C, H, W) → tanh. (For 16×16: regions at 8×8.)"""

    def __init__(self, latent_dim, text_dim, proj_dim, word_dim, image_shape, width, attention,
                 dtype="float32"):
        super().__init__()
        C, H, W = image_shape
        self.latent_dim = latent_dim
        self.proj = projection(text_dim, proj_dim, dtype)
        self.stage1 = Sequential(
            Linear(latent_dim + proj_dim, 2 * width * (H // 4) * (W // 4), bias=False,
                   dtype=dtype), Reshape(2 * width, H // 4, W // 4),
            BatchNorm2d(2 * width, dtype=dtype), ReLU(),
            ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False, dtype=dtype),
            BatchNorm2d(width, dtype=dtype), ReLU())
        self.attn = WordAttention(width, word_dim, dtype=dtype) if attention else None
        self.stage2 = Sequential(
            ConvTranspose2d(width * (2 if attention else 1), C, 4, stride=2, padding=1,
                            dtype=dtype), Tanh())

    def children(self):
        out = [("proj", self.proj), ("stage1", self.stage1)]
        if self.attn is not None:
            out.append(("attn", self.attn))
        return out + [("stage2", self.stage2)]

    def forward(self, z, sent, words=None, mask=None, word_weights=None):
        """x (N, C, H, W) and the cache. words (N, C_w, T), mask (N, T) and word_weights
        (N, T) (optional priors, see :class:`~minigan.nn.WordAttention`) are read only with
        attention."""
        xp = get_array_module(z)
        p, c_proj = self.proj.forward(sent)
        h, c1 = self.stage1.forward(xp.concatenate([z, p], axis=1))
        c_attn = c_cat = None
        if self.attn is not None:
            ctx, c_attn = self.attn.forward(h, words, mask, word_weights)
            h, c_cat = concat_channels(h, ctx)
        x, c2 = self.stage2.forward(h)
        return x, (c_proj, c1, c_attn, c_cat, c2)

    def backward(self, dx, cache):
        """Returns dL/dz; the text's gradient is used to train the projection only (the
        encoder is frozen), the words' gradient is dropped."""
        c_proj, c1, c_attn, c_cat, c2 = cache
        dh = self.stage2.backward(dx, c2)
        if self.attn is not None:                 # h feeds the attention and the skip beside it
            dh, dctx = concat_channels_backward(dh, c_cat)
            dh = dh + self.attn.backward(dctx, c_attn)[0]
        dzp = self.stage1.backward(dh, c1)
        self.proj.backward(dzp[:, self.latent_dim:], c_proj)
        return dzp[:, :self.latent_dim]


class TextDiscriminator(Module):
    """D(x, φ(t)) (module docstring): Conv 4×4 s2 → LeakyReLU → Conv 4×4 s2 → BN, LeakyReLU
    → (2w, H/4, W/4); the projected text p_D (P,) replicated to (P, H/4, W/4) and concatenated
    → Conv 1×1 → BN, LeakyReLU → Flatten → Linear → logit."""

    def __init__(self, text_dim, proj_dim, image_shape, width, dtype="float32"):
        super().__init__()
        C, H, W = image_shape
        self.proj = projection(text_dim, proj_dim, dtype)
        self.body = Sequential(
            Conv2d(C, width, 4, stride=2, padding=1, dtype=dtype), LeakyReLU(0.2),
            Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False, dtype=dtype),
            BatchNorm2d(2 * width, dtype=dtype), LeakyReLU(0.2))
        self.head = Sequential(
            Conv2d(2 * width + proj_dim, 2 * width, 1, bias=False, dtype=dtype),
            BatchNorm2d(2 * width, dtype=dtype), LeakyReLU(0.2), Flatten(),
            Linear(2 * width * (H // 4) * (W // 4), 1, dtype=dtype))
        self.body_channels = 2 * width

    def children(self):
        return [("proj", self.proj), ("body", self.body), ("head", self.head)]

    def forward(self, x, sent):
        xp = get_array_module(x)
        f, c_body = self.body.forward(x)
        p, c_proj = self.proj.forward(sent)
        N, _, h, w = f.shape
        maps = xp.broadcast_to(p[:, :, None, None], (N, p.shape[1], h, w))
        s, c_head = self.head.forward(xp.concatenate([f, maps], axis=1))
        return s, (c_body, c_proj, c_head)

    def backward(self, ds, cache, need_dx=True):
        """dL/dx (None with need_dx=False: a real image's); ADDS into every parameter of D."""
        c_body, c_proj, c_head = cache
        dfm = self.head.backward(ds, c_head)
        k = self.body_channels
        self.proj.backward(dfm[:, k:].sum(axis=(2, 3)), c_proj)
        if need_dx:
            return self.body.backward(dfm[:, :k], c_body)
        self.body.backward_params(dfm[:, :k], c_body)
        return None


# --- the model ----------------------------------------------------------------------------------
def interpolated_words(words1, mask1, words2, mask2, beta):
    """The words of β·t₁ + (1 − β)·t₂ for word attention: both captions' words side by side
    (N, C, T₁ + T₂), their masks, and prior weights β for t₁'s words and 1 − β for t₂'s
    (None at β = ½: equal weights are the plain softmax over both captions' words)."""
    xp = get_array_module(words1)
    words = xp.concatenate([words1, words2], axis=2)
    mask = xp.concatenate([mask1, mask2], axis=1)
    if beta == 0.5:
        return words, mask, None
    N, T1, T2 = words1.shape[0], words1.shape[2], words2.shape[2]
    weights = xp.concatenate([xp.full((N, T1), beta), xp.full((N, T2), 1.0 - beta)], axis=1)
    return words, mask, weights.astype(words1.dtype)


def mismatched_partner(attrs, rng):
    """For each example i, the index of another example of a different description: a random
    permutation, then, where it picked the same description, the next example that differs
    (N ≥ 2 and at least two descriptions in the batch, else a ValueError)."""
    a = to_numpy(attrs).reshape(len(attrs), -1)
    N = len(a)
    perm = to_numpy(backend.permutation(rng, N))
    for i in range(N):
        if (a[perm[i]] == a[i]).all():
            for k in range(1, N):
                j = (perm[i] + k) % N
                if (a[j] != a[i]).any():
                    perm[i] = j
                    break
            else:
                raise ValueError("Text2Image: every example of the batch has the same "
                                 "description; GAN-CLS needs wrong captions to show D")
    return perm


class Text2Image(GANModel):
    """Text-to-image GAN (module docstring).

    vocab: the list of words (index = token; index 0 is the padding "<pad>"); max_words: T,
    captions padded to it (even); both default to the captioned shapes'
    (:mod:`minigan.data.captions`). data_shape (C, H, W), H and W divisible by 4. latent_dim:
    z; text_dim: E of φ(t); proj_dim: P; width: w. matching (GAN-CLS), interpolate (GAN-INT,
    β = ``beta``, weight ``interp_weight``), attention (word attention in G),
    matching_weight (λ of the sentence matching loss; 0: off), word_matching_weight (λ of
    DAMSM's word loss; 0: off, and no region projection). encoder_steps: the joint embedding
    phase, margin Δ and lr_enc. Adam(lr, betas) for G and D.
    """

    name = "text2image"
    toolbox = GENERAL_SWITCHES                 # D's own remedies (chapter 8) are not wired in
    not_applicable = {k: "chapter 8's remedies of D are not wired into the text-conditioned D"
                      for k in ("label_smoothing", "feature_matching", "minibatch_kernels",
                                "minibatch_dim", "spectral_norm", "pack")}
    parts = ("G", "D", "opt_g", "opt_d", "text_encoder", "image_encoder", "region_proj",
             "opt_enc", "ema_g",
             "average_g", "average_d", "history")

    def __init__(self, vocab=None, max_words=None, data_shape=(3, 16, 16), latent_dim=16,
                 text_dim=32, proj_dim=16, width=32, matching=True, interpolate=True, beta=0.5,
                 interp_weight=1.0, attention=False, matching_weight=0.0, gamma=10.0,
                 word_matching_weight=0.0,
                 encoder_steps=300, margin=0.2, lr_enc=1e-3, lr_g=2e-4, lr_d=2e-4,
                 betas=(0.5, 0.999), seed=0, dtype="float32", **switches):
        if vocab is None or max_words is None:     # the captioned shapes' (chapter 12)
            from ..data.captions import MAX_WORDS, VOCAB
            vocab = VOCAB.words if vocab is None else vocab
            max_words = MAX_WORDS if max_words is None else max_words
        vocab = [str(w) for w in vocab]
        if len(vocab) < 2 or vocab[PAD] != "<pad>" or len(set(vocab)) != len(vocab):
            raise ValueError("Text2Image: vocab must be a list of distinct words, index 0 "
                             f"'<pad>', got {vocab[:5]!r}...")
        C, H, W = (int(s) for s in data_shape)
        if H % 4 or W % 4:
            raise ValueError(f"Text2Image: image size ({H}, {W}) must be divisible by 4")
        for what, v in dict(max_words=max_words, latent_dim=latent_dim, text_dim=text_dim,
                            proj_dim=proj_dim, width=width).items():
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Text2Image: {what} must be a positive int, got {v!r}")
        if not 0 <= beta <= 1:
            raise ValueError(f"Text2Image: beta must be in [0, 1], got {beta!r}")
        if isinstance(encoder_steps, bool) or int(encoder_steps) != encoder_steps or \
                encoder_steps < 0:
            raise ValueError(f"Text2Image: encoder_steps must be an int >= 0, got "
                             f"{encoder_steps!r}")
        GANModel.__init__(self, dict(
            vocab=vocab, max_words=int(max_words), data_shape=[C, H, W],
            latent_dim=int(latent_dim), text_dim=int(text_dim), proj_dim=int(proj_dim),
            width=int(width), matching=bool(matching), interpolate=bool(interpolate),
            beta=float(beta), interp_weight=float(interp_weight), attention=bool(attention),
            matching_weight=float(matching_weight), gamma=float(gamma),
            word_matching_weight=float(word_matching_weight),
            encoder_steps=int(encoder_steps), margin=float(margin), lr_enc=lr_enc, lr_g=lr_g,
            lr_d=lr_d, betas=list(betas)),
            seed=seed, dtype=dtype, switches=switches, batches_per_step=1, conditional=True)
        self.vocab = vocab
        self.data_shape = (C, H, W)
        self.max_words, self.latent_dim = int(max_words), int(latent_dim)
        self.matching, self.interpolate, self.attention = matching, interpolate, attention
        self.beta, self.interp_weight = float(beta), float(interp_weight)
        self.matching_weight, self.gamma = float(matching_weight), float(gamma)
        self.word_matching_weight = float(word_matching_weight)
        self.encoder_steps, self.margin = int(encoder_steps), float(margin)
        init = backend.default_rng(seed)
        self.text_encoder = TextEncoder(len(vocab), max_words, out_dim=text_dim, rng=init,
                                        dtype=dtype)
        self.image_encoder = ImageEncoder(self.data_shape, out_dim=text_dim, rng=init,
                                          dtype=dtype)
        self.G = TextGenerator(latent_dim, text_dim, proj_dim, self.text_encoder.channels,
                               self.data_shape, width, attention, dtype)
        self.D = TextDiscriminator(text_dim, proj_dim, self.data_shape, width, dtype)
        for net in (self.G.proj, self.G.stage1, self.G.stage2, self.D.proj, self.D.body,
                    self.D.head):
            dcgan_init_(net, init)
        if self.G.attn is not None:
            w = self.G.attn.params["weight"]
            w[...] = backend.normal(init, 0.0, 0.02, w.shape).astype(w.dtype)
        # DAMSM's word loss: the image encoder's regions projected into the words' space, its
        # own generator (a model without it draws exactly what it drew before it existed)
        self.region_proj = None
        if self.word_matching_weight:
            self.region_proj = Linear(self.image_encoder.region_channels,
                                      self.text_encoder.channels, bias=False,
                                      rng=backend.default_rng([seed, 12]), dtype=dtype)
        self.opt_enc = Adam([self.text_encoder, self.image_encoder]
                            + ([self.region_proj] if self.region_proj is not None else []),
                            lr=lr_enc)
        self.setup_training(Adam(self.G, lr=lr_g, betas=betas), Adam(self.D, lr=lr_d, betas=betas),
                            fake=(self.data_shape, self.G.dtype),
                            cond=((int(text_dim),), self.G.dtype))

    # --- batches ----------------------------------------------------------------------------
    def batches(self, real_batches):
        if isinstance(real_batches, list):
            if len(real_batches) != 1:
                raise ValueError(f"Text2Image: one batch per step, got {len(real_batches)}")
            return real_batches
        return [real_batches]

    def prepare_batch(self, batch):
        """A batch of :class:`~minigan.data.captions.CaptionStream`, checked: (images (N, C, H,
        W) float, tokens (N, T) int, lengths (N,) int, attrs (N, K) int); returns (images in
        D's dtype, tokens, attrs)."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 4:
            got = type(batch).__name__ + (f" of {len(batch)}" if isinstance(batch, (tuple, list))
                                          else "")
            raise ValueError("Text2Image: expected a batch (images, tokens, lengths, attrs), as "
                             f"CaptionedShapes.batches() gives, got {got}")
        images, tokens, lengths, attrs = batch
        C, H, W = self.data_shape
        if not hasattr(images, "shape") or tuple(images.shape[1:]) != self.data_shape \
                or images.shape[0] < 2:
            raise ValueError(f"Text2Image: expected images of shape (N, {C}, {H}, {W}) with "
                             f"N >= 2, got {getattr(images, 'shape', type(images).__name__)}")
        self.text_encoder.check_tokens(tokens)
        N = images.shape[0]
        if len(tokens) != N or getattr(attrs, "ndim", 0) != 2 or len(attrs) != N \
                or getattr(lengths, "shape", None) != (N,):
            raise ValueError("Text2Image: images, tokens, lengths and attrs must have one row "
                             "per example each (attrs (N, K))")
        counts = to_numpy(word_mask(tokens)).sum(axis=1)
        if (counts != to_numpy(lengths)).any() or counts.min() == 0:
            raise ValueError("Text2Image: each caption needs at least one word, and lengths "
                             "must count the non-padding tokens")
        if int(to_numpy(tokens).max()) >= len(self.vocab):
            raise ValueError(f"Text2Image: tokens must be < the vocabulary's {len(self.vocab)}")
        return (backend.asarray(images).astype(self.D.dtype, copy=False),   # on the backend in use
                backend.asarray(tokens), backend.asarray(attrs))

    @property
    def phase(self) -> str:
        """'encoder' (the joint embedding) or 'gan': what the next train_step does."""
        return "encoder" if self.step < self.encoder_steps else "gan"

    # --- one step ---------------------------------------------------------------------------
    def train_step(self, real_batches) -> dict:
        images, tokens, attrs = self.prepare_batch(self.batches(real_batches)[0])
        logs = dict.fromkeys(("enc_loss", "loss_d", "loss_g", "d_real", "d_wrong", "d_fake",
                              "matching_loss", "word_matching_loss"), 0.0)
        if self.phase == "encoder":
            logs["enc_loss"] = joint_embedding_step(self.text_encoder, self.image_encoder,
                                                    self.opt_enc, images, tokens, attrs,
                                                    self.margin, self.region_proj)
            self.step += 1
            return logs
        rng = step_rng(self.seed, self.step)
        self.schedule_learning_rates()
        sent, words = self.text_encoder.encode(tokens)
        mask = word_mask(tokens)
        N = images.shape[0]
        # D: real with right text -> real; [real with wrong text -> fake]; fake -> fake
        self.zero_grads("d")
        z = self.noise(N, rng)
        fake, _ = self.G.forward(z, sent, words, mask)
        fake_weight = 0.5 if self.matching else 1.0
        s_real, c_real = self.D.forward(images, sent)
        loss_d, ds = bce_with_logits(s_real, get_array_module(s_real).ones_like(s_real))
        self.D.backward(ds, c_real, need_dx=False)
        logs["d_real"] = mean_prob(s_real)
        fake_d, sent_d = self.recall(fake, sent)     # (the sample history's mix, when on)
        s_fake, c_fake = self.D.forward(fake_d, sent_d)
        loss, ds = _bce_zero(s_fake)
        self.D.backward(ds * fake_weight, c_fake, need_dx=False)
        loss_d += fake_weight * loss
        logs["d_fake"] = mean_prob(s_fake)
        if self.matching:
            wrong = backend.asarray(mismatched_partner(attrs, rng))
            s_wrong, c_wrong = self.D.forward(images, sent[wrong])
            loss, ds = _bce_zero(s_wrong)
            self.D.backward(ds * 0.5, c_wrong, need_dx=False)
            loss_d += 0.5 * loss
            logs["d_wrong"] = mean_prob(s_wrong)
        logs["loss_d"] = loss_d
        self.update("d")
        # G: fool D on (G(z, t), t) [and on interpolated texts]; [match the caption]
        self.zero_grads("g")
        z = self.noise(N, rng)
        fake, c_g = self.G.forward(z, sent, words, mask)
        s, c_d = self.D.forward(fake, sent)
        loss_g, ds = bce_g_loss(s)
        dfake = self.D.backward(ds, c_d)
        if self.matching_weight or self.word_matching_weight:      # through the frozen θ
            v, feats, c_v = self.image_encoder.forward_regions(fake)
            same = ~mismatch_mask(attrs)
            dv = dregions = None
            if self.matching_weight:
                m_loss, dv, _ = sentence_matching_loss(v, sent, self.gamma, same=same)
                dv = self.matching_weight * dv
                logs["matching_loss"] = m_loss
                loss_g += self.matching_weight * m_loss
            if self.word_matching_weight:
                regions, c_r = project_regions(self.region_proj, feats)
                w_loss, dreg, _ = word_matching_loss(regions, words, mask, same=same)
                dregions = project_regions_backward(self.region_proj,
                                                    self.word_matching_weight * dreg, c_r)
                logs["word_matching_loss"] = w_loss
                loss_g += self.word_matching_weight * w_loss
            dfake = dfake + self.image_encoder.backward_regions(dv, dregions, c_v)
        self.G.backward(dfake, c_g)
        if self.interpolate:
            perm = backend.asarray(backend.permutation(rng, N))
            s_int = self.beta * sent + (1 - self.beta) * sent[perm]
            w_int, m_int, p_int = interpolated_words(words, mask, words[perm], mask[perm],
                                                     self.beta)
            z = self.noise(N, rng)
            fake_i, c_gi = self.G.forward(z, s_int, w_int, m_int, p_int)
            s_i, c_di = self.D.forward(fake_i, s_int)
            loss_i, ds_i = bce_g_loss(s_i)
            self.G.backward(self.D.backward(ds_i * self.interp_weight, c_di), c_gi)
            loss_g += self.interp_weight * loss_i
        logs["loss_g"] = loss_g
        self.update("g")
        self.image_encoder.zero_grad()                  # (frozen: its gradients are not used)
        if self.region_proj is not None:
            self.region_proj.zero_grad()
        self.finish_step()
        return logs

    # --- use --------------------------------------------------------------------------------
    def encode_text(self, texts):
        """Captions (strings) → tokens (N, T), through the model's vocabulary (an unknown
        word is a ValueError naming it and the known words)."""
        from ..data.captions import Vocabulary
        return Vocabulary(self.vocab).encode_batch(list(texts), self.max_words)[0]

    def generate_from_tokens(self, tokens, z):
        """G(z, φ(t)) for tokens (N, T) and z (N, latent), in eval mode (EMA weights if on):
        NumPy (N, C, H, W)."""
        tokens = backend.asarray(np.asarray(to_numpy(tokens), dtype=np.int64))
        z = backend.asarray(np.asarray(to_numpy(z), dtype=self.G.dtype))
        with self.sampling():
            sent, words = self.text_encoder.encode(tokens)
            x, _ = self.G.forward(z, sent, words, word_mask(tokens))
        return to_numpy(x)

    def sample(self, n, texts=None, tokens=None, seed=None):
        """n images for captions: ``texts`` (strings) or ``tokens`` (N, T), one per image
        (cycled if fewer than n)."""
        if tokens is None:
            if texts is None:
                raise ValueError("Text2Image.sample: give the captions (texts=[...] or tokens)")
            tokens = self.encode_text(texts)
        tokens = np.asarray(to_numpy(tokens))
        if len(tokens) == 0:
            raise ValueError("Text2Image.sample: got no captions")
        tokens = tokens[np.arange(n) % len(tokens)]
        rng = backend.default_rng(seed if seed is not None else self.seed + 1)
        z = self.noise(n, rng)
        return self.generate_from_tokens(tokens, z)


def _bce_zero(s):
    """BCE(s, 0) and its gradient: D's loss on what it must call fake."""
    return bce_with_logits(s, get_array_module(s).zeros_like(s))


def train_style_encoder(model, batch_fn, steps, lr=1e-3, seed=0, width=32):
    """Reed's style encoder: S minimises ‖z − S(G(z, φ(t)))‖² over fresh z and the captions of
    ``batch_fn(step)`` (G and the encoders fixed). Returns (S, losses)."""
    from ..nn import mse
    S = ImageEncoder(model.data_shape, width, model.latent_dim, rng=backend.default_rng(seed),
                     dtype=model.G.dtype)                # Reed §4.4: S(x) → z
    opt = Adam(S, lr=lr)
    losses = []
    for step in range(steps):
        tokens = batch_fn(step)[1]
        rng = step_rng(seed, step, 3)
        z = model.noise(len(tokens), rng)
        x = backend.asarray(model.generate_from_tokens(tokens, z))
        opt.zero_grad()
        z_hat, cache = S.forward(x)
        loss, dz = mse(z_hat, z)
        S.backward(dz, cache)
        opt.step()
        losses.append(loss)
    return S, losses
