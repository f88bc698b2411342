"""A model's checkpoint as the state of its parts: one place for every trainable thing in
minigan (the GANs of ``gans/``, the language model's trainer ``lm.MLE``), so that saving is
complete and loading is strict and all or nothing."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np


class Checkpointed:
    """A model's checkpoint: the step count and the state of each of its ``parts`` (networks,
    optimisers and toolbox states, by attribute name), each under the prefix "<part>." (a
    part that is None is skipped). One place for every model, so that a resumed run restores
    everything."""

    parts = ("G", "D", "opt_g", "opt_d", "ema_g", "average_g", "average_d", "history")
    # (a GAN's parts; a model with others lists its own: SeqGAN, minigan.lm.MLE)

    def state_dict(self) -> dict:
        out = {"step": np.asarray(self.step)}
        for part in self.parts:
            obj = getattr(self, part, None)
            if obj is not None:
                out.update({f"{part}.{k}": v for k, v in obj.state_dict().items()})
        return out

    def load_state_dict(self, state: dict, strict: bool = True):
        """Restore the step count and every part from :meth:`state_dict`, all or nothing.

        Strict by default, as torch: an entry that belongs to no part of this model (or to
        a part that is None here) and an entry a part needs that ``state`` lacks are errors
        naming them; ``strict=False`` skips both. Every part checks its entries (shapes,
        real finite numbers; see :meth:`minigan.nn.Module.load_state_dict` and
        :meth:`minigan.optim.Optimizer.load_state_dict`) BEFORE any part is written, so a
        state that fails anywhere leaves the whole model as it was. Errors are
        :class:`~minigan.nn.module.StateDictError` (a KeyError and a ValueError)."""
        from .nn.module import StateDictError, few_names
        where = type(self).__name__
        if not isinstance(state, Mapping):
            raise StateDictError(f"{where}: expected the state as a dict of arrays, got "
                                 f"{type(state).__name__}")
        parts = [(part, getattr(self, part, None)) for part in self.parts]
        prefixes = tuple(part + "." for part, obj in parts if obj is not None)
        if strict:
            unexpected = [k for k in state if k != "step"
                          and not (isinstance(k, str) and k.startswith(prefixes))]
            if unexpected:
                raise StateDictError(
                    f"{where}: the state does not fit: unexpected "
                    f"{few_names(sorted(map(str, unexpected)))} "
                    f"(this model's state holds 'step' and entries of its parts "
                    f"{', '.join(p[:-1] for p in prefixes)}; strict=False skips the others)")
        step = self.step
        if "step" in state:
            try:
                v = np.asarray(state["step"])
                ok = v.shape == () and v.dtype.kind in "iu" and int(v) >= 0
            except Exception:
                ok = False
            if not ok:
                raise StateDictError(f"{where}: entry 'step' must be one whole number >= 0, got "
                                     f"{state['step']!r}")
            step = int(v)
        elif strict:
            raise StateDictError(f"{where}: the state does not fit: missing 'step' "
                                 f"(strict=False skips it)")
        commits = [obj.prepare_load_state_dict(state, prefix=part + ".", strict=strict)
                   for part, obj in parts if obj is not None]     # every part checked first
        for commit in commits:
            commit()
        self.step = step
