"""The layer contract, and the base class every layer and container shares.

A layer holds its parameters and their gradients in two dicts with the same keys::

    layer.params = {"weight": W, "bias": b}
    layer.grads  = {"weight": dW, "bias": db}     # same shapes, accumulated

and its forward pass returns what its backward pass needs, explicitly::

    y, cache = layer.forward(x)      # cache: whatever backward needs, nothing more
    dx = layer.backward(dy, cache)   # returns dL/dx and ADDS dL/dparam into layer.grads

When the input is data (an image, not a layer's output), its gradient is thrown away; then
``layer.backward_params(dy, cache)`` adds dL/dparam into ``layer.grads`` like ``backward``
and returns None, skipping dL/dx where that saves work (a convolution's col2im, say).

Nothing of a call is kept on ``self``: a discriminator called on a real batch and
then on a fake batch keeps two caches, and two backward passes add up in
``grads``. ``zero_grad()`` clears the gradients (in place, so that optimizers and
containers that hold references to the arrays keep seeing the same arrays).

Every backward pass first checks that ``dy`` has the shape of the layer's output (a shape
comparison, nothing more: a wrong dy would otherwise broadcast into a wrong gradient), every
tangent backward pass ``backward_jvp(dy, dy_dot, cache)`` checks both ``dy`` and ``dy_dot``
the same way (:meth:`Module._check_dy_pair`), and
constructors refuse sizes that are not positive ints, naming the argument.
``load_state_dict`` is strict (as torch) and all or nothing: everything is checked before
anything is written (:class:`StateDictError`).

Every layer that allocates arrays charges them first (:func:`charge_allocation`): inside
:func:`allocation_budget` (``minigan.train.load_model`` builds a checkpoint's model in one),
a layer that would go over the budget raises :class:`BudgetExceeded` before allocating.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import operator
from collections.abc import Mapping

import numpy as np

from .. import backend
from ..backend import get_array_module


class StateDictError(KeyError, ValueError):
    """A state dict does not fit a module or an optimiser: entries missing or unexpected, a
    wrong shape, a dtype that is not real numbers, NaN or infinite values. Both a KeyError
    and a ValueError (code that caught either still does); its message is plain text."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def few_names(names, most=6):
    """Up to ``most`` of ``names``, quoted, and how many more: for error messages."""
    names = [repr(n) for n in names]
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most
                                      else "")


def check_state_keys(where, state, expected, prefix=""):
    """Raise a :class:`StateDictError` naming the entries of ``state`` (those under
    ``prefix``) that are not in ``expected`` and the ``expected`` names ``state`` lacks."""
    known = set(expected)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if not (isinstance(k, str) and k in known)
                  and (not prefix or (isinstance(k, str) and k.startswith(prefix)))]
    if missing or unexpected:
        parts = ([f"missing {few_names(missing)}"] if missing else []) + \
                ([f"unexpected {few_names(sorted(map(str, unexpected)))}"] if unexpected else [])
        raise StateDictError(f"{where}: the state does not fit: {'; '.join(parts)} "
                             "(load_state_dict(..., strict=False) skips missing and "
                             "unexpected entries)")


def checked_state_array(where, key, value, shape, dtype):
    """``value`` as a NumPy array of ``dtype``, after checking that it is an array of real
    numbers of ``shape`` with no NaN or infinity (before and after the cast); raises a
    :class:`StateDictError` naming ``key``, what was expected and what was found."""
    try:
        v = np.asarray(backend.to_numpy(value))
    except Exception:   # a ragged list, an object that is not array-like
        raise StateDictError(f"{where}: entry {key!r} is not an array of numbers "
                             f"({type(value).__name__})") from None
    if v.dtype.kind not in "iuf":
        raise StateDictError(f"{where}: entry {key!r} has dtype {v.dtype}, expected real "
                             f"numbers (float or int) to load into {np.dtype(dtype)}")
    if tuple(v.shape) != tuple(shape):
        raise StateDictError(f"{where}: entry {key!r} has shape {tuple(v.shape)}, expected "
                             f"{tuple(shape)}")
    if v.dtype.kind == "f" and not np.isfinite(v).all():
        raise StateDictError(f"{where}: entry {key!r} holds NaN or infinite values")
    with np.errstate(over="ignore", invalid="ignore"):
        out = v.astype(dtype, copy=True)
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        raise StateDictError(f"{where}: entry {key!r} holds values too large for "
                             f"{out.dtype} (they would become infinite)")
    return out


def positive_int(value, what, where):
    """``value`` as an int, or a ValueError naming ``what`` (the argument) and ``where``
    (the layer) unless it is a positive integer (a Python or NumPy int; not a bool, not a
    float, even a whole one)."""
    if not isinstance(value, bool):
        try:
            v = operator.index(value)
        except TypeError:
            pass
        else:
            if v > 0:
                return v
    raise ValueError(f"{where}: {what} must be a positive int, got {value!r}")


# --- an allocation budget: building a network from sizes that a file supplied ------------------
def _approx(n) -> float:
    """``n`` as a float, infinity for an int too large for one (a product of crafted sizes)."""
    try:
        return float(n)
    except OverflowError:
        return math.inf


def format_bytes(nbytes) -> str:
    """A size in the unit that reads best: "3.2 GiB", "240 MiB", "12 bytes"."""
    nbytes = _approx(nbytes)
    for unit, scale in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30),
                        ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            v = nbytes / scale
            return f"{v:.3g} {unit}" if v < 1000 or unit == "EiB" else f"{v:.0f} {unit}"
    return f"{int(nbytes)} bytes"


# What a layer costs beyond its arrays (the Python objects: the module, its dicts, the arrays'
# headers), charged once per layer that keeps arrays, so that a budget also bounds a network of
# very many small layers (measured: about 1.5 KiB for a Linear).
LAYER_BYTES = 2048


class AllocationBudget:
    """What :func:`allocation_budget` yields: ``limit`` (bytes), ``spent`` (bytes charged)."""

    def __init__(self, limit):
        self.limit, self.spent = int(limit), 0


class BudgetExceeded(MemoryError):
    """Building a layer would take more memory than is left of an :func:`allocation_budget`.
    Raised before the layer allocates anything. Attributes: ``layer`` (what was being built,
    as text), ``sizes`` (the sizes it was given), ``values`` (the array values it would keep:
    parameters, gradients, buffers), ``nbytes`` (their bytes, and the layer's own
    :data:`LAYER_BYTES`), ``spent`` (bytes the layers built before it took) and ``limit``."""

    def __init__(self, layer, sizes, values, nbytes, spent, limit):
        self.layer, self.sizes, self.values = layer, tuple(sizes), values
        self.nbytes, self.spent, self.limit = nbytes, spent, limit
        super().__init__(f"{layer} would take {format_bytes(nbytes)} ({_approx(values):.3g} "
                         f"values: its "
                         f"parameters, their gradients and its buffers), more than the "
                         f"{format_bytes(max(limit - spent, 0))} left of the "
                         f"{format_bytes(limit)} allowed")


_budget = contextvars.ContextVar("minigan_allocation_budget", default=None)


@contextlib.contextmanager
def allocation_budget(nbytes):
    """Within the block, every layer built in this thread first charges what it will keep
    (its parameters, their gradients and its buffers, at its dtype's size, plus
    :data:`LAYER_BYTES`) against ``nbytes`` in all, and raises :class:`BudgetExceeded`
    instead of allocating when that would go over it. For building a network from sizes that
    came from a file (a checkpoint's config): a crafted size then costs a clear error, not
    the machine's memory. Yields the :class:`AllocationBudget` (``spent`` tells what the
    layers took). Outside such a block nothing is checked. A nested block has its own."""
    budget = AllocationBudget(nbytes)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def charge_allocation(layer, sizes, dtype, params=(), buffers=()):
    """Called by a layer's constructor after checking its arguments and BEFORE allocating
    anything; a no-op outside :func:`allocation_budget`. ``params``: the shapes of its
    parameters (each kept twice: with its gradient), ``buffers``: those of its buffers (kept
    once), at ``dtype``'s size; the layer's :data:`LAYER_BYTES` on top (if it keeps any
    array: a layer then holds at least one array per LAYER_BYTES charged). ``layer``: how to
    name it (e.g. "Linear(4, 3)") and ``sizes``: the sizes it was given, for
    :class:`BudgetExceeded`. Sizes are Python ints (as :func:`positive_int` returns them):
    no product overflows, however large."""
    budget = _budget.get()
    if budget is None:
        return
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        itemsize = 8                        # (a bad dtype: the layer itself refuses it)

    def count(shapes):
        return sum(math.prod(int(n) for n in shape) for shape in shapes)
    values = 2 * count(params) + count(buffers)
    nbytes = values * itemsize + (LAYER_BYTES if values else 0)
    if budget.spent + nbytes > budget.limit:
        raise BudgetExceeded(layer, sizes, values, nbytes, budget.spent, budget.limit)
    budget.spent += nbytes


class Module:
    """Base class: parameters, gradients, train/eval mode, state for checkpoints."""

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}
        self.training = True

    # --- the contract -------------------------------------------------------------
    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, dy, cache):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def backward_params(self, dy, cache):
        """``backward`` without dL/dx: ADDS dL/dparam into ``grads``, returns None. For a layer
        whose input is data, whose gradient nobody reads. This default runs ``backward`` and
        drops dx (nothing to do for a layer without parameters); layers whose dx is costly
        (Conv2d, Sequential, pix2pix's UNet) skip computing it."""
        if self.named_parameters():
            self.backward(dy, cache)

    # --- children (containers override) ----------------------------------------------
    def children(self):
        """The sub-modules, in order, as (name, module) pairs. Leaves have none."""
        return []

    def named_parameters(self, prefix=""):
        """Every parameter below this module as (dotted name, param, grad) triples."""
        out = [(prefix + k, self.params[k], self.grads[k]) for k in self.params]
        for name, child in self.children():
            out.extend(child.named_parameters(prefix + name + "."))
        return out

    def num_parameters(self) -> int:
        return int(sum(p.size for _, p, _ in self.named_parameters()))

    def zero_grad(self):
        for _, _, g in self.named_parameters():
            g[...] = 0

    def train(self, mode: bool = True):
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    # --- dtype / device -------------------------------------------------------------
    @property
    def dtype(self):
        for _, p, _ in self.named_parameters():
            return p.dtype
        return None

    def to(self, dtype=None, backend_name=None):
        """Convert parameters (and zeroed gradients) to ``dtype`` and/or move them to the
        backend in use (``backend_name="numpy"`` brings them back to the CPU). In place.

        The arrays are replaced: create optimisers after calling ``to``, not before."""
        def convert(a):
            if backend_name == "numpy":
                a = backend.to_numpy(a)
            elif backend_name is not None:
                a = backend.xp.asarray(a)
            return a if dtype is None else a.astype(dtype)

        for _, child in self.children():
            child.to(dtype, backend_name)
        for k in list(self.params):
            self.params[k] = convert(self.params[k])
            self.grads[k] = backend.get_array_module(self.params[k]).zeros_like(self.params[k])
        for k, v in list(self._buffers().items()):
            setattr(self, k, convert(v))
        return self

    def _buffers(self) -> dict:
        """Non-trainable arrays that belong in a checkpoint (e.g. running statistics)."""
        return {}

    # --- checkpoints ----------------------------------------------------------------
    def state_dict(self, prefix="") -> dict:
        """Parameters and buffers as a flat dict of NumPy arrays (dotted names)."""
        out = {prefix + k: backend.to_numpy(v).copy() for k, v in self.params.items()}
        out.update({prefix + k: backend.to_numpy(v).copy() for k, v in self._buffers().items()})
        for name, child in self.children():
            out.update(child.state_dict(prefix + name + "."))
        return out

    def _state_entries(self, prefix="") -> list:
        """(dotted name, array) of every parameter and buffer below this module: the arrays
        that :meth:`load_state_dict` writes into, under the names of :meth:`state_dict`."""
        out = [(prefix + k, v) for k, v in self.params.items()]
        out.extend((prefix + k, v) for k, v in self._buffers().items())
        for name, child in self.children():
            out.extend(child._state_entries(prefix + name + "."))
        return out

    def load_state_dict(self, state: dict, prefix="", strict: bool = True):
        """Copy arrays from ``state`` into this module's parameters and buffers, in place.

        Strict by default, as torch: an entry this module does not have (unexpected) or an
        entry it needs that ``state`` lacks (missing) is a :class:`StateDictError` naming
        them; ``strict=False`` skips both (what is missing keeps its value). Every entry
        must have the shape of its parameter, hold real numbers (float or int: complex,
        strings, objects and booleans are refused) and be finite (no NaN, no infinity, also
        after the cast to the parameter's dtype); values are cast to the parameter's dtype.

        All or nothing: everything is checked before anything is written, so a state that
        fails leaves every parameter and buffer as it was. :class:`StateDictError` is a
        KeyError (missing/unexpected entries) and a ValueError (shapes, dtypes, values) both.
        With ``prefix``, only the entries whose names start with it are this module's."""
        self.prepare_load_state_dict(state, prefix, strict)()

    def prepare_load_state_dict(self, state: dict, prefix="", strict: bool = True):
        """Check ``state`` as :meth:`load_state_dict` does, write nothing, and return a
        function of no arguments that writes it: so that a model made of several networks
        and optimisers can check all of them before it changes any (all or nothing)."""
        where = type(self).__name__
        if not isinstance(state, Mapping):
            raise StateDictError(f"{where}: expected the state as a dict of arrays, got "
                                 f"{type(state).__name__}")
        entries = self._state_entries(prefix)
        if strict:
            check_state_keys(where, state, [k for k, _ in entries], prefix)
        writes = []
        for key, target in entries:
            if key in state:
                writes.append((target, checked_state_array(where, key, state[key],
                                                           target.shape, target.dtype)))

        def commit():
            for target, value in writes:
                if get_array_module(target) is np:
                    target[...] = value
                else:                                   # on a GPU: copied to the device
                    target[...] = get_array_module(target).asarray(value)
        return commit

    # --- input checks -----------------------------------------------------------------
    def _check_input(self, x, ndim=None, last=None, name="input"):
        """Raise a ValueError naming this layer, the expected and the received shape/dtype."""
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise ValueError(f"{self!r}: expected an array as {name}, got {type(x).__name__}")
        if ndim is not None and x.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
            raise ValueError(f"{self!r}: expected {name} with {ndim} dimensions "
                             f"{self._shape_hint()}, got shape {tuple(x.shape)}")
        if last is not None and (x.ndim == 0 or x.shape[-1] != last):
            raise ValueError(f"{self!r}: expected {name} of shape {self._shape_hint()}, "
                             f"got shape {tuple(x.shape)}")
        if x.dtype.kind != "f":
            raise ValueError(f"{self!r}: expected a floating-point {name}, got dtype {x.dtype}")
        dt = self.dtype
        if dt is not None and x.dtype != dt:
            raise ValueError(f"{self!r}: {name} has dtype {x.dtype} but the parameters are "
                             f"{dt}; convert one of them (x.astype({dt}) or layer.to({x.dtype}))")

    def _check_dy(self, dy, shape, name="dy"):
        """Raise a ValueError naming this layer and the expected shape unless ``dy`` (the
        gradient of the loss with respect to this layer's output) has the output's
        ``shape``. Every backward pass calls it first: a shape comparison, O(1), where a
        wrong dy would otherwise broadcast or be reshaped silently into a wrong gradient."""
        got = getattr(dy, "shape", None)
        if got is None or tuple(got) != tuple(shape):
            what = f"shape {tuple(got)}" if got is not None else type(dy).__name__
            raise ValueError(f"{self!r}: expected {name} of shape {tuple(shape)} (the shape of "
                             f"this layer's output), got {what}")

    def _check_dy_pair(self, dy, dy_dot, shape):
        """The check of every ``backward_jvp(dy, dẏ, cache)``, made before anything is
        computed or added into ``grads``: both upstream gradients, ``dy`` and ``dẏ`` (named
        ``dy_dot`` in the message), must have the shape of this layer's output, ``shape``
        (the tangent ẏ has y's shape). Shape comparisons only, as :meth:`_check_dy`: a
        wrong dẏ would otherwise broadcast or be reshaped into a wrong penalty gradient."""
        self._check_dy(dy, shape, "dy")
        self._check_dy(dy_dot, shape, "dy_dot")

    def _shape_hint(self) -> str:
        return ""

    def __repr__(self):
        return f"{type(self).__name__}()"
