"""The GAN losses written out independently of the models' own code, for finite-difference
checks of their hand-derived gradients (shared by test_gan.py and test_dcgan.py)."""
import numpy as np

from minigan.nn import bce_with_logits


def randomize_parameters(gan, seed):
    """Non-zero, non-symmetric values in every parameter of G and D: zeros hide bugs."""
    rng = np.random.default_rng(seed + 100)
    for net in (gan.G, gan.D):
        for _, p, _ in net.named_parameters():
            p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return gan


def d_loss(gan, real, z):
    """BCE(D(x), 1) + BCE(D(G(z)), 0)."""
    fake, _ = gan.G.forward(z)
    s_real, _ = gan.D.forward(real)
    s_fake, _ = gan.D.forward(fake)
    return (bce_with_logits(s_real, np.ones_like(s_real))[0]
            + bce_with_logits(s_fake, np.zeros_like(s_fake))[0])


def g_loss(gan, z):
    """BCE(D(G(z)), 1) (non-saturating) or −BCE(D(G(z)), 0) (minimax)."""
    s, _ = gan.D.forward(gan.G.forward(z)[0])
    if gan.loss == "nonsaturating":
        return bce_with_logits(s, np.ones_like(s))[0]
    return -bce_with_logits(s, np.zeros_like(s))[0]
