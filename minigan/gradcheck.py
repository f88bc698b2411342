"""Finite-difference checks of hand-derived gradients, in float64.

The primitive is :func:`numerical_gradient`: for a scalar function f of an array a,

    ∂f/∂a[i] ≈ (f(a + h e_i) − f(a − h e_i)) / 2h          (central differences, error O(h²))

and a layer's output y is turned into a scalar with a *random* upstream gradient
dy, ``f = Σ y · dy``, so that every entry of dx and dW is exercised (an all-ones dy
hides bugs: batch norm's input gradient is then exactly zero).

Errors are reported as ``rel_error(a, b) = max|a − b| / max(1e-8, max(|a| + |b|))``,
the worst absolute difference relative to the size of the gradient itself, per input
and per parameter. In float64 a correct gradient gives ~1e-9 or less; a wrong one
gives 1e-2 to 1.
"""
from __future__ import annotations

import numpy as np

from .backend import get_array_module, to_numpy


def rel_error(a, b) -> float:
    """max|a − b| / max(1e-8, max(|a| + |b|)): 0 for equal arrays, ~1 for unrelated ones."""
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1e-8, float(np.max(np.abs(a) + np.abs(b)))))


def numerical_gradient(f, a, h=1e-6):
    """∂f/∂a by central differences; f() reads ``a`` (perturbed in place) and returns a float.

    ``a`` is restored exactly afterwards. a must be float64: in float32 the rounding
    error of f (~1e-7 relative) divided by h swamps the derivative.
    """
    if a.dtype != np.float64:
        raise ValueError(f"numerical_gradient: expected a float64 array, got {a.dtype}; "
                         "gradient checks must run in float64")
    if not a.flags.c_contiguous:
        # reshape(-1) would return a copy, and perturbing the copy would not move f at all
        raise ValueError("numerical_gradient: array must be C-contiguous (pass "
                         "np.ascontiguousarray(a) and let f read that array)")
    xp = get_array_module(a)
    grad = xp.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    for i in range(a.size):
        old = float(flat[i])
        try:
            flat[i] = old + h
            fp = f()
            flat[i] = old - h
            fm = f()
        finally:
            flat[i] = old          # restored exactly, even if f raises
        gflat[i] = (fp - fm) / (2 * h)
    return grad


def _scalar(y, dy):
    return float((y * dy).sum())


def check_layer(layer, x, dy=None, *, seed=0, h=1e-6, forward=None, verbose=False) -> dict:
    """Compare a layer's backward pass with finite differences, in float64.

    The layer is converted to float64 in place (``layer.to("float64")``) and its grads
    zeroed. ``dy`` defaults to standard-normal noise of the output's shape.
    ``forward(x) -> (y, cache)`` overrides ``layer.forward`` (e.g. to fix a random mask).
    Returns ``{"x": err, "<param name>": err, ...}`` with :func:`rel_error` values.
    """
    xp = get_array_module(x)
    layer.to("float64")
    x = xp.array(x, dtype=np.float64)
    fwd = forward if forward is not None else layer.forward
    y, cache = fwd(x)
    if dy is None:
        dy = xp.asarray(np.random.default_rng(seed).standard_normal(y.shape))
    dy = xp.asarray(dy, dtype=np.float64)
    layer.zero_grad()
    dx = layer.backward(dy, cache)
    report = {}

    def f():
        return _scalar(fwd(x)[0], dy)

    report["x"] = rel_error(dx, numerical_gradient(f, x, h))
    for name, p, g in layer.named_parameters():
        report[name] = rel_error(g, numerical_gradient(f, p, h))
    if verbose:
        print_report(report)
    return report


def check_loss(loss_fn, pred, target, *, h=1e-6) -> float:
    """rel_error of a loss's gradient (w.r.t. its first argument) against finite differences."""
    xp = get_array_module(pred)
    pred = xp.array(pred, dtype=np.float64)
    _, grad = loss_fn(pred, target)
    return rel_error(grad, numerical_gradient(lambda: loss_fn(pred, target)[0], pred, h))


def check_scalar_function(f, arrays: dict, analytic: dict, *, h=1e-6) -> dict:
    """The general case: f() -> float reads the float64 arrays in ``arrays`` (perturbed in
    place); ``analytic[name]`` is the claimed gradient. Used for whole losses of
    composed networks (e.g. a GAN's discriminator loss w.r.t. every parameter of D)."""
    return {k: rel_error(analytic[k], numerical_gradient(f, a, h)) for k, a in arrays.items()}


def print_report(report: dict, tol: float = 1e-6) -> None:
    """One line per gradient: its relative error and whether it passes ``tol``."""
    width = max(len(k) for k in report)
    for k, err in report.items():
        print(f"  d{k:<{width}}  rel. error {err:.2e}  {'ok' if err < tol else 'WRONG'}")
