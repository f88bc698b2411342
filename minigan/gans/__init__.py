"""GAN model families, one file each. ``MODELS`` maps the CLI's names to classes."""
from .gan import GAN
from .dcgan import DCGAN

MODELS = {"gan": GAN, "dcgan": DCGAN}


def get_model_class(name: str):
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}") from None


__all__ = ["GAN", "DCGAN", "MODELS", "get_model_class"]
