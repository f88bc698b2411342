"""GAN model families, one file each. ``MODELS`` maps the CLI's names to classes."""
from .base import GANModel, SWITCHES
from .gan import GAN
from .dcgan import DCGAN
from .cgan import CGAN, CDCGAN
from .wgan import WGAN, WGANGP
from .seqgan import SeqGAN
from .rcgan import RCGAN
from .pix2pix import Pix2Pix
from .text2image import Text2Image

MODELS = {"gan": GAN, "dcgan": DCGAN, "cgan": CGAN, "cdcgan": CDCGAN, "wgan": WGAN,
          "wgan-gp": WGANGP, "seqgan": SeqGAN, "rcgan": RCGAN,
          "pix2pix": Pix2Pix, "text2image": Text2Image}


def get_model_class(name: str):
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}") from None


__all__ = ["GANModel", "SWITCHES", "GAN", "DCGAN", "CGAN", "CDCGAN", "WGAN", "WGANGP", "SeqGAN", "RCGAN", "Pix2Pix", "Text2Image", "MODELS",
           "get_model_class"]
