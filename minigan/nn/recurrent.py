"""Recurrent layers with hand-derived backpropagation through time: LSTMCell, LSTM, GRU.

Shape letters: N batch, T time steps, I input features, H hidden size, L layers. Names,
shapes, gate orders and initialisation follow torch.nn: weights ``weight_ih`` (GH, I) and
``weight_hh`` (GH, H), biases ``bias_ih``, ``bias_hh`` (GH,), with G = 4 gates (i, f, g, o) for
the LSTM and G = 3 (r, z, n) for the GRU, suffixed ``_l{k}`` for layer k of a stack; every
parameter ~ U(−1/√H, 1/√H). As in :class:`~minigan.nn.Linear`, ``a = x Wᵀ + b`` (row vectors).
The derivations are in chapter 9 (notebooks/09_lstm_by_hand.ipynb); the docstrings give
the lines that matter.

Backpropagation through time (BPTT), said once for both layers. Unrolled over T steps a
recurrent layer is a deep network whose T copies share one set of weights::

    h_t = cell(x_t, h_{t−1}; W)         (LSTM: the state is the pair (h_t, c_t))

so (1) the gradient of the weights is the SUM over steps of each copy's local gradient, and
(2) the gradient reaching h_t has two sources, the output at step t and step t+1::

    dh_t = dy_t + ∂L/∂h_t|through step t+1,      dh_T (and dc_T) = the gradient of the final state

Going backwards from t = T, each step's backward turns (dh_t, dc_t) into the gate
pre-activations' gradient da_t and (dh_{t−1}, dc_{t−1}); what is left after step 1 is the
gradient of the initial state. Since a_t = x_t W_ihᵀ + h_{t−1} W_hhᵀ + b, and the da_t of all
steps are known once the loop is done, the weight gradients are two matrix products over all
steps at once, dW_ih += Σ_t da_tᵀ x_t and dW_hh += Σ_t da_tᵀ h_{t−1}, as is dx_t = da_t W_ih:
only dh_{t−1} = da_t W_hh (+ the direct path) must stay inside the loop. Likewise the forward
pass computes x_t W_ihᵀ for every t in ONE product before its loop. A stack of L layers feeds
layer k's outputs (h_1..h_T) to layer k+1 as its inputs, and its backward feeds layer k+1's dx
to layer k as its dy.
"""
from __future__ import annotations

import math

from .. import backend
from ..backend import get_array_module
from ..kernels.lstm import lstm_gates_backward, lstm_gates_forward
from .layers import sigmoid
from .module import Module, charge_allocation, positive_int


def _uniform(rng, H, shape, dtype):
    bound = 1.0 / math.sqrt(H)
    return rng.uniform(-bound, bound, shape).astype(dtype)


def _check_sizes(name, input_size, hidden_size, num_layers=1):
    """The three sizes as ints, or a ValueError naming the one that is not a positive int."""
    return tuple(positive_int(v, what, name) for what, v in (
        ("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)))


def _check_batch(layer, x, N):
    """A batch of 0 sequences is refused (as a sequence of 0 steps is): there is nothing to
    compute, and an empty batch is almost always a bug upstream (an empty split, a filter
    that kept nothing), better reported here than as empty outputs later."""
    if N == 0:
        raise ValueError(f"{layer!r}: the input is a batch of 0 sequences, shape "
                         f"{tuple(x.shape)}; expected at least one")


class LSTMCell(Module):
    """One LSTM step, as torch.nn.LSTMCell.

    x: (N, I); state (h_prev, c_prev): each (N, H), zeros when None -> (h, c), each (N, H)::

        a = x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh                 (N, 4H), gates (i, f, g, o)
        i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g)
        c = f ⊙ c_prev + i ⊙ g;            h = o ⊙ tanh(c)

    Backward (chapter 9): ``backward(dh_next, dc_next, cache) -> (dx, dh_prev, dc_prev)``,
    dh_next and dc_next the upstream gradients of h and c, either may be None (zero).
    c reaches the loss directly and through h, so its total gradient has two terms::

        dc_total = dc_next + dh_next ⊙ o ⊙ (1 − tanh²c)
        da_i = dc_total ⊙ g ⊙ i(1 − i)        da_f = dc_total ⊙ c_prev ⊙ f(1 − f)
        da_g = dc_total ⊙ i ⊙ (1 − g²)        da_o = dh_next ⊙ tanh c ⊙ o(1 − o)
        dc_prev = dc_total ⊙ f;   dx = da W_ih;   dh_prev = da W_hh
        dW_ih += daᵀ x;   dW_hh += daᵀ h_prev;   db_ih, db_hh += Σ_n da

    (the pointwise lines are one fused kernel, :mod:`minigan.kernels.lstm`).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng=None,
                 dtype="float32"):
        super().__init__()
        input_size, hidden_size, _ = _check_sizes("LSTMCell", input_size, hidden_size)
        self.input_size, self.hidden_size, self.has_bias = input_size, hidden_size, bias
        H = hidden_size
        charge_allocation(f"LSTMCell({input_size}, {H})", (input_size, H), dtype,
                          [(4 * H, input_size), (4 * H, H)] + [(4 * H,)] * (2 * bool(bias)))
        rng = rng if rng is not None else backend.rng()
        self.params["weight_ih"] = _uniform(rng, H, (4 * H, input_size), dtype)
        self.params["weight_hh"] = _uniform(rng, H, (4 * H, H), dtype)
        if bias:
            self.params["bias_ih"] = _uniform(rng, H, (4 * H,), dtype)
            self.params["bias_hh"] = _uniform(rng, H, (4 * H,), dtype)
        xp = get_array_module(self.params["weight_ih"])
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x, state=None):
        self._check_input(x, ndim=2, last=self.input_size)
        _check_batch(self, x, x.shape[0])
        h_prev, c_prev = _state(self, state, (x.shape[0], self.hidden_size), x, ("h", "c"))
        p = self.params
        a = x @ p["weight_ih"].T + h_prev @ p["weight_hh"].T               # (N, 4H)
        if self.has_bias:
            a += p["bias_ih"] + p["bias_hh"]
        h, c, acts, tanh_c = lstm_gates_forward(a, c_prev)   # acts: the gates i, f, g, o
        # The cache: what backward needs, x and h_prev for dW_ih, dW_hh, and for the pointwise
        # part c_prev, the activated gates and tanh(c) (a itself is not needed).
        return (h, c), (x, h_prev, c_prev, acts, tanh_c)

    def backward(self, dh_next, dc_next, cache):
        x, h_prev, c_prev, acts, tanh_c = cache
        xp = get_array_module(x)
        if dh_next is None:
            dh_next = xp.zeros_like(h_prev)
        _check_grad(self, dh_next, h_prev.shape, "dh")
        if dc_next is not None:
            _check_grad(self, dc_next, h_prev.shape, "dc")
        da, dc_prev = lstm_gates_backward(dh_next, dc_next, acts, c_prev, tanh_c)
        params, grads = self.params, self.grads
        grads["weight_ih"] += da.T @ x
        grads["weight_hh"] += da.T @ h_prev
        if self.has_bias:
            db = da.sum(axis=0)
            grads["bias_ih"] += db
            grads["bias_hh"] += db
        dx, dh_prev = da @ params["weight_ih"], da @ params["weight_hh"]
        return dx, dh_prev, dc_prev

    def _shape_hint(self):
        return f"(N, {self.input_size})"

    def __repr__(self):
        return f"LSTMCell({self.input_size}, {self.hidden_size}, bias={self.has_bias})"


def _state(layer, state, shape, x, names):
    """The given state arrays, checked, or zeros of ``shape`` in x's dtype and module."""
    xp = get_array_module(x)
    if state is None:
        return tuple(xp.zeros(shape, dtype=x.dtype) for _ in names)
    if len(names) == 1:
        state = (state,)
    elif not isinstance(state, (tuple, list)) or len(state) != len(names):
        raise ValueError(f"{layer!r}: expected the state as a pair ({', '.join(names)}), "
                         f"got {type(state).__name__}")
    out = []
    for s, name in zip(state, names):
        if s is None:
            s = xp.zeros(shape, dtype=x.dtype)
        if not hasattr(s, "shape") or tuple(s.shape) != shape:
            raise ValueError(f"{layer!r}: expected {name} of shape {shape}, "
                             f"got {tuple(getattr(s, 'shape', ()))}")
        if s.dtype != x.dtype:
            raise ValueError(f"{layer!r}: {name} has dtype {s.dtype}, the input {x.dtype}")
        out.append(s)
    return tuple(out)


def _check_grad(layer, grad, shape, name):
    if not hasattr(grad, "shape") or tuple(grad.shape) != tuple(shape):
        raise ValueError(f"{layer!r}: expected {name} of shape {tuple(shape)}, "
                         f"got {tuple(getattr(grad, 'shape', ()))}")


class _RNNBase(Module):
    """What LSTM and GRU share: parameters per layer, the loop over layers, layouts, checks.

    Subclasses define ``_gates`` (4 or 3), ``_state_names`` and the per-layer
    ``_layer_forward(k, x, state) -> (out, final_state, cache)`` and
    ``_layer_backward(k, dy, dstate, cache) -> (dx, dstate0)`` on time-major (T, N, ·) arrays.
    """

    _gates = 0
    _state_names: tuple = ()

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=True,
                 rng=None, dtype="float32"):
        super().__init__()
        name = type(self).__name__
        input_size, hidden_size, num_layers = _check_sizes(name, input_size, hidden_size,
                                                           num_layers)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.has_bias, self.batch_first = bias, batch_first
        G, H = self._gates, hidden_size
        charge_allocation(f"{name}({input_size}, {H}, num_layers={num_layers})",
                          (input_size, H, num_layers), dtype,   # (a count of shapes as a shape)
                          [(G * H, input_size), (2 * num_layers - 1, G * H, H),
                           (2 * num_layers * bool(bias), G * H)])
        rng = rng if rng is not None else backend.rng()
        for k in range(num_layers):
            inp = input_size if k == 0 else H
            self.params[f"weight_ih_l{k}"] = _uniform(rng, H, (G * H, inp), dtype)
            self.params[f"weight_hh_l{k}"] = _uniform(rng, H, (G * H, H), dtype)
            if bias:
                self.params[f"bias_ih_l{k}"] = _uniform(rng, H, (G * H,), dtype)
                self.params[f"bias_hh_l{k}"] = _uniform(rng, H, (G * H,), dtype)
        xp = get_array_module(self.params["weight_ih_l0"])
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def _p(self, k):
        p = self.params
        if self.has_bias:
            return (p[f"weight_ih_l{k}"], p[f"weight_hh_l{k}"], p[f"bias_ih_l{k}"],
                    p[f"bias_hh_l{k}"])
        return p[f"weight_ih_l{k}"], p[f"weight_hh_l{k}"], None, None

    def _add_grads(self, k, x, da_x, h_prev, da_h, *, same_da=False):
        """Layer k's parameter gradients, summed over steps and batch, from the gradients of
        the two sides of the pre-activations, input (x_t W_ihᵀ + b_ih) and hidden
        (h_{t−1} W_hhᵀ + b_hh): dW_ih += Σ_t da_xᵀ x_t, dW_hh += Σ_t da_hᵀ h_{t−1},
        db_ih += Σ da_x, db_hh += Σ da_h. x, h_prev: (T, N, ·); da_x, da_h: (T, N, GH).
        ``same_da=True`` says that da_h equals da_x (the LSTM, whose a is the plain sum of
        the two sides, so both get its gradient da): db_hh = db_ih is then summed once."""
        G, H = self._gates, self.hidden_size
        da_x2, da_h2 = da_x.reshape(-1, G * H), da_h.reshape(-1, G * H)   # (T·N, GH)
        grads = self.grads
        grads[f"weight_ih_l{k}"] += da_x2.T @ x.reshape(da_x2.shape[0], -1)
        grads[f"weight_hh_l{k}"] += da_h2.T @ h_prev.reshape(-1, H)
        if self.has_bias:
            db_ih = da_x2.sum(axis=0)
            grads[f"bias_ih_l{k}"] += db_ih
            grads[f"bias_hh_l{k}"] += db_ih if same_da else da_h2.sum(axis=0)

    def _forward(self, x, state):
        """x in the layer's layout; state: tuple of (L, N, H) arrays or None."""
        self._check_input(x, ndim=3, last=self.input_size)
        xp = get_array_module(x)
        xt = x.transpose(1, 0, 2) if self.batch_first else x            # (T, N, I)
        T, N = xt.shape[:2]
        if T == 0:
            raise ValueError(f"{self!r}: the input has no time steps, shape {tuple(x.shape)}")
        _check_batch(self, x, N)
        shape = (self.num_layers, N, self.hidden_size)
        names = self._state_names
        state = _state(self, state, shape, x, tuple(n + "0" for n in names))
        layer_in, finals, caches = xp.ascontiguousarray(xt), [], []
        for k in range(self.num_layers):
            layer_in, final, cache = self._layer_forward(k, layer_in, tuple(s[k] for s in state))
            finals.append(final)
            caches.append(cache)
        out = xp.ascontiguousarray(layer_in.transpose(1, 0, 2)) if self.batch_first \
            else layer_in
        final = tuple(xp.stack([f[i] for f in finals]) for i in range(len(names)))
        return out, final, (caches, N, T)

    def _backward(self, dy, dstate, cache):
        caches, N, T = cache
        xp = get_array_module(caches[0][0])
        H, L = self.hidden_size, self.num_layers
        d_out = dy                       # the gradient of the layer's outputs, top layer first
        if dy is not None:
            _check_grad(self, dy, (N, T, H) if self.batch_first else (T, N, H), "dy")
            d_out = dy.transpose(1, 0, 2) if self.batch_first else dy   # (T, N, H), read only
        for d, name in zip(dstate, self._state_names):
            if d is not None:
                _check_grad(self, d, (L, N, H), "d" + name + "_n")
        dstate0 = [[None] * L for _ in self._state_names]   # [state][layer]: d of h0 (and c0)
        for k in reversed(range(L)):
            # layer k's dx is the gradient of layer k−1's outputs
            d_out, dstate0_k = self._layer_backward(
                k, d_out, tuple(None if d is None else d[k] for d in dstate), caches[k])
            for i, d in enumerate(dstate0_k):
                dstate0[i][k] = d
        dx = xp.ascontiguousarray(d_out.transpose(1, 0, 2)) if self.batch_first else d_out
        return (dx,) + tuple(xp.stack(d) for d in dstate0)

    def _shape_hint(self):
        return f"(N, T, {self.input_size})" if self.batch_first else f"(T, N, {self.input_size})"

    def __repr__(self):
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}, bias={self.has_bias}, "
                f"batch_first={self.batch_first})")


class LSTM(_RNNBase):
    """A stack of LSTM layers over a sequence, as torch.nn.LSTM (unidirectional, no dropout).

    x: (N, T, I) (batch_first=True, the default here; (T, N, I) otherwise);
    state (h0, c0): each (L, N, H), zeros when None.
    ``forward(x, state=None) -> ((y, (h_n, c_n)), cache)``: y (N, T, H), the top layer's h_t;
    h_n, c_n (L, N, H), every layer's final state.
    ``backward(dy, cache, dh_n=None, dc_n=None) -> (dx, dh0, dc0)``: dy (N, T, H), dh_n and
    dc_n (L, N, H), any of them None (zero); dx (N, T, I), dh0 and dc0 (L, N, H) (returned
    even when no initial state was given). Parameters per layer k: weight_ih_l{k} (4H, I or H),
    weight_hh_l{k} (4H, H), bias_ih_l{k}, bias_hh_l{k} (4H,).
    BPTT: see the module docstring; one step is :class:`LSTMCell`.
    """

    _gates = 4
    _state_names = ("h", "c")

    def forward(self, x, state=None):
        y, (h_n, c_n), cache = self._forward(x, state)
        return (y, (h_n, c_n)), cache

    def backward(self, dy, cache, dh_n=None, dc_n=None):
        return self._backward(dy, (dh_n, dc_n), cache)

    def _layer_forward(self, k, x, state):
        """x: (T, N, In) contiguous; state (h0, c0): (N, H) -> y (T, N, H), (h_T, c_T), cache.
        Each step's a = (x_t W_ihᵀ + b) + h_{t−1} W_hhᵀ: the first term for all steps at
        once (a_x), the second inside the loop; then LSTMCell's pointwise step."""
        xp = get_array_module(x)
        W_ih, W_hh, b_ih, b_hh = self._p(k)
        T, N, H = x.shape[0], x.shape[1], self.hidden_size
        a_x = (x.reshape(T * N, -1) @ W_ih.T).reshape(T, N, 4 * H)    # x_t W_ihᵀ, all t at once
        if b_ih is not None:
            a_x += b_ih + b_hh                                         # a's input side, + b
        hs = xp.empty((T + 1, N, H), dtype=x.dtype)                    # h_0 .. h_T
        cs = xp.empty((T + 1, N, H), dtype=x.dtype)                    # c_0 .. c_T
        hs[0], cs[0] = state
        acts = xp.empty((T, N, 4 * H), dtype=x.dtype)                  # gates i, f, g, o, all t
        tanh_c = xp.empty((T, N, H), dtype=x.dtype)                    # tanh(c_t)
        hW = xp.empty((N, 4 * H), dtype=x.dtype)                       # h_{t−1} W_hhᵀ
        a_t = xp.empty((N, 4 * H), dtype=x.dtype)                      # the step's a
        W_hhT = xp.ascontiguousarray(W_hh.T)     # measured: 7% faster per step than W_hh.T
        for t in range(T):
            xp.matmul(hs[t], W_hhT, out=hW)
            xp.add(a_x[t], hW, out=a_t)
            lstm_gates_forward(a_t, cs[t], out=(hs[t + 1], cs[t + 1], acts[t], tanh_c[t]))
        # The cache (a_x and a_t are not kept): x and h_0..h_{T−1} for dW_ih and dW_hh, and for
        # the pointwise backward c_0..c_{T−1}, the activated gates and tanh(c_t) of every step.
        return hs[1:], (hs[T], cs[T]), (x, hs, cs, acts, tanh_c)

    def _layer_backward(self, k, dy, dstate, cache):
        """dy: (T, N, H) or None; dstate (dh_T, dc_T) or Nones -> dx (T, N, In), (dh_0, dc_0).

        Step t's backward is LSTMCell's, with dh_next = dy_t + (step t+1's dh_prev) and
        dc_next = step t+1's dc_prev; the loop starts from dh_prev, dc_prev := dh_T, dc_T."""
        x, hs, cs, acts, tanh_c = cache
        xp = get_array_module(x)
        W_ih, W_hh, _, _ = self._p(k)
        T, N, H = acts.shape[0], acts.shape[1], self.hidden_size
        dh_T, dc_T = dstate
        dh_prev = xp.zeros((N, H), x.dtype) if dh_T is None else dh_T.astype(x.dtype, copy=True)
        dc_prev = xp.zeros((N, H), x.dtype) if dc_T is None else dc_T.astype(x.dtype, copy=True)
        da = xp.empty_like(acts)                           # da_t of every step: (T, N, 4H)
        dh_next = xp.empty((N, H), x.dtype)
        for t in reversed(range(T)):
            if dy is not None:
                xp.add(dy[t], dh_prev, out=dh_next)        # dh_next = dy_t + (from step t+1)
            else:
                dh_next[...] = dh_prev
            dc_next = dc_prev      # step t+1's dc_prev; overwritten in place by step t's
            lstm_gates_backward(dh_next, dc_next, acts[t], cs[t], tanh_c[t],
                                out=(da[t], dc_prev))
            xp.matmul(da[t], W_hh, out=dh_prev)           # dh_prev = da_t W_hh
        self._add_grads(k, x, da, hs[:-1], da, same_da=True)   # one da for both sides of a
        dx = (da.reshape(T * N, 4 * H) @ W_ih).reshape(T, N, -1)
        return dx, (dh_prev, dc_prev)                      # (dh_0, dc_0)


class GRU(_RNNBase):
    """A stack of GRU layers over a sequence, as torch.nn.GRU (unidirectional, no dropout).

    One step, torch's equations and gate order (r, z, n)::

        r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr)
        z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
        n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn))
        h' = (1 − z) ⊙ n + z ⊙ h

    Backward of a step (chapter 9), with q = h W_hnᵀ + b_hn and upstream dh_next (of h')::

        dn = dh_next ⊙ (1 − z);  dz = dh_next ⊙ (h − n);  da_n = dn ⊙ (1 − n²)
        da_z = dz ⊙ z(1 − z);  da_r = da_n ⊙ q ⊙ r(1 − r)
        input side  (→ W_ih, b_ih, dx):  da_x = (da_r, da_z, da_n)
        hidden side (→ W_hh, b_hh):      da_h = (da_r, da_z, da_n ⊙ r)
        dh_prev = dh_next ⊙ z + da_h W_hh

    x: (N, T, I) (batch_first) or (T, N, I); h0: (L, N, H), zeros when None.
    ``forward(x, h0=None) -> ((y, h_n), cache)``: y (N, T, H), h_n (L, N, H).
    ``backward(dy, cache, dh_n=None) -> (dx, dh0)``; dy or dh_n may be None (zero).
    Parameters per layer k: weight_ih_l{k} (3H, I or H), weight_hh_l{k} (3H, H), biases (3H,).
    """

    _gates = 3
    _state_names = ("h",)

    def forward(self, x, h0=None):
        y, (h_n,), cache = self._forward(x, h0)
        return (y, h_n), cache

    def backward(self, dy, cache, dh_n=None):
        return self._backward(dy, (dh_n,), cache)

    def _layer_forward(self, k, x, state):
        xp = get_array_module(x)
        W_ih, W_hh, b_ih, b_hh = self._p(k)
        T, N, H = x.shape[0], x.shape[1], self.hidden_size
        ax = (x.reshape(T * N, -1) @ W_ih.T).reshape(T, N, 3 * H)     # x_t W_ihᵀ, all t at once
        if b_ih is not None:
            ax += b_ih
        hs = xp.empty((T + 1, N, H), dtype=x.dtype)
        hs[0] = state[0]
        rzn = xp.empty((T, N, 3 * H), dtype=x.dtype)                   # r, z, n of every step
        q = xp.empty((T, N, H), dtype=x.dtype)                         # h W_hnᵀ + b_hn
        W_hhT = xp.ascontiguousarray(W_hh.T)
        for t in range(T):
            ah = hs[t] @ W_hhT
            if b_hh is not None:
                ah += b_hh
            rzn[t, :, :2 * H] = sigmoid(ax[t, :, :2 * H] + ah[:, :2 * H])
            r, z = rzn[t, :, :H], rzn[t, :, H:2 * H]
            q[t] = ah[:, 2 * H:]
            n = rzn[t, :, 2 * H:]
            n[...] = xp.tanh(ax[t, :, 2 * H:] + r * q[t])
            hs[t + 1] = n + z * (hs[t] - n)                   # (1 − z) n + z h
        return hs[1:], (hs[T],), (x, hs, rzn, q)

    def _layer_backward(self, k, dy, dstate, cache):
        x, hs, rzn, q = cache
        xp = get_array_module(x)
        W_ih, W_hh, _, _ = self._p(k)
        T, N, H = rzn.shape[0], rzn.shape[1], self.hidden_size
        dh_prev = xp.zeros((N, H), x.dtype) if dstate[0] is None \
            else dstate[0].astype(x.dtype, copy=True)
        da_x = xp.empty_like(rzn)                  # input side (da_r, da_z, da_n)
        da_h = xp.empty_like(rzn)                  # hidden side (da_r, da_z, da_n ⊙ r)
        for t in reversed(range(T)):
            dh_next = dh_prev if dy is None else dy[t] + dh_prev
            r, z, n = rzn[t, :, :H], rzn[t, :, H:2 * H], rzn[t, :, 2 * H:]
            dn = dh_next * (1 - z)
            dz = dh_next * (hs[t] - n)
            da_n = dn * (1 - n * n)
            da_x[t, :, :H] = da_n * q[t] * r * (1 - r)             # da_r
            da_x[t, :, H:2 * H] = dz * z * (1 - z)                  # da_z
            da_x[t, :, 2 * H:] = da_n
            da_h[t, :, :2 * H] = da_x[t, :, :2 * H]
            da_h[t, :, 2 * H:] = da_n * r
            dh_prev = dh_next * z + da_h[t] @ W_hh
        self._add_grads(k, x, da_x, hs[:-1], da_h)
        dx = (da_x.reshape(T * N, 3 * H) @ W_ih).reshape(T, N, -1)
        return dx, (dh_prev,)
