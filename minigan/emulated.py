"""An emulated GPU for tests: a CuPy-like array module on the CPU that keeps CuPy's rules.

minigan is meant to run unchanged on CuPy arrays (``backend.use("cupy")``), but CI has no GPU,
and code that is correct on NumPy can still break on a device: ``np.asarray(x)`` of a device
array, a NumPy function called on one, a host array added to a device array. On NumPy these
are all fine, so nothing catches them until somebody runs on a real GPU. This module is a
stand-in device that makes each of them fail on the CPU, in CI::

    minigan.use("emulated")           # or MINIGAN_BACKEND=emulated; pytest --backend=emulated

It is a TEST backend: every number is computed by NumPy (so a run gives NumPy's results, to
the bit), and it is slower than NumPy. It proves that minigan keeps its data on the device; it
says nothing about CuPy's own kernels (``minigan/kernels/_cupy.py``), which need a GPU: on
emulated arrays the kernel dispatch runs the kernels' NumPy references (written with ``xp``),
on the device arrays themselves.

The rules, as CuPy's (its ``cupy/_core/core.pyx``), for minigan's own code:

- **no implicit conversion to NumPy**: ``np.asarray(x)``, ``np.array(x)``, ``np.save(..., x)``
  raise ``TypeError`` (CuPy's message). The explicit transfers work: :func:`asnumpy`,
  ``x.get()``, and the host syncs CuPy allows: ``float(x)``, ``int(x)``, ``bool(x)`` of a
  one-element array, ``x.item()``, ``x.tolist()``, printing. There is no ``__index__`` (CuPy
  has none): a device integer is not a Python index until ``int()`` makes it one.
- **no host array in a device operation**: ``x + a``, ``a + x``, ``xp.concatenate([x, a])``,
  ``x.dot(a)`` with ``a`` a NumPy array raise ``TypeError``. Python and NumPy scalars are fine.
  As in CuPy, host data may be written into a device array (``x[...] = a``) and host integer
  or boolean arrays may index one (``x[a]``); both copy to the device.
- **no NumPy function on a device array**: ``np.mean(x)``, ``np.exp(x)``, ``np.where(x, ...)``
  raise ``TypeError``: library code asks ``xp = get_array_module(x)`` and calls ``xp.mean``.
  (Stricter than CuPy, whose ``__array_function__``/``__array_ufunc__`` hand many of these to
  its own functions: minigan's rule is one spelling that works everywhere, and a NumPy
  function that CuPy lacks raises there too. ``np.float32(2) * x`` is an operator, not a
  NumPy function, and works, as in CuPy.)
- **results stay on the device**: every operation on device arrays returns device arrays,
  0-d arrays where NumPy returns scalars (``x.sum()``, ``x[0, 0]``), as CuPy does.
- **only what CuPy has**: NumPy functions CuPy lacks (``errstate``, ``insert``, ...) are missing
  here too, and the random generator has CuPy's methods only: ``random``, ``uniform``,
  ``integers``, ``standard_normal``, ... but no ``normal``, ``permutation``, ``choice`` or
  ``shuffle``; with ``size=None`` it returns a 0-d device array, not a Python number.

**Who the rules apply to.** They hold for code in the ``minigan`` package. Code outside it (a
test, a notebook) may convert implicitly, as if every transfer were automatic: ``np.asarray(x)``
and NumPy's functions (``np.mean(x)``, ``np.unique(x)``, ``a + x`` with a NumPy array ``a`` on
the left) give NumPy results, the device's own operations (``x + a``, ``x.sum()``) device
results. That is what lets the existing tests, which compare a layer's output with NumPy's
``assert_allclose``, run unchanged under this backend, while any host transfer inside minigan
still fails them. What decides is the innermost frame of minigan's or of the caller's own code
on the stack (frames of NumPy, the standard library and installed packages are looked
through). ``with strict():`` applies the rules to every caller (the emulation's own tests).

**Not emulated** (a GPU still has the last word): CuPy's kernels and its numerics (type
promotion, reduction order, rounding of its ``tanh``), out-of-bounds integer indices (CuPy
wraps them around where NumPy raises), Python lists where CuPy wants arrays (``xp.sum([1,
2])`` works here), memory limits, streams and speed.
"""
from __future__ import annotations

import contextlib
import functools
import numbers
import os
import sys
import sysconfig
import types

import numpy as np

__all__ = ["ndarray", "asarray", "array", "asanyarray", "asnumpy", "get_array_module",
           "strict", "random", "linalg", "EMULATED"]

#: Marks this module as the emulated device (the kernel dispatch runs the NumPy references).
EMULATED = True

_HERE = os.path.abspath(__file__)
_PACKAGE = os.path.dirname(_HERE) + os.sep          # .../minigan/
_LOOKED_THROUGH = tuple(sorted({os.path.abspath(p) + os.sep for p in (
    sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")) if p}
    | {os.path.dirname(os.path.abspath(np.__file__)) + os.sep}))
_strict_depth = [0]

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
             "construct a NumPy array explicitly.")


# --- who is asking: minigan's code (strict) or its caller's (implicit transfers) -------------

def _minigan_is_asking() -> bool:
    """True when the innermost frame of project code on the stack is minigan's own.

    Frames of this module, NumPy, the standard library and installed packages are looked
    through; the first other frame decides: inside the minigan package, the CuPy rules hold;
    anywhere else (tests, notebooks, scripts), implicit transfers are allowed."""
    if _strict_depth[0]:
        return True
    f = sys._getframe(1)
    while f is not None:
        name = f.f_code.co_filename
        if name != _HERE and name.startswith(_PACKAGE):
            return True           # (checked first: minigan may be installed in site-packages)
        if name != _HERE and not name.startswith(_LOOKED_THROUGH + ("<frozen",)):
            return False
        f = f.f_back
    return False


@contextlib.contextmanager
def strict():
    """Apply the rules to every caller inside the block, not only to minigan's code."""
    _strict_depth[0] += 1
    try:
        yield
    finally:
        _strict_depth[0] -= 1


def _refuse_host(what: str):
    """The error for a host (NumPy) array in a device operation, when minigan asks."""
    raise TypeError(f"{what}: a NumPy (host) array was mixed with an emulated device array. "
                    "CuPy raises here (Unsupported type <class 'numpy.ndarray'>): move it "
                    "with xp.asarray(a) first, or keep it on the host with backend.to_numpy(x)")


def _refuse_numpy(func_name: str):
    raise TypeError(f"numpy.{func_name} was called on an emulated device array. On a GPU this "
                    "would drag the data to the host or fail: use xp."
                    f"{func_name} with xp = backend.get_array_module(x), or convert explicitly "
                    "with backend.to_numpy(x)")


# --- the device array ----------------------------------------------------------------------

class ndarray:
    """An array on the emulated device: a NumPy array that CuPy's rules keep out of NumPy.

    ``ndarray(shape, dtype=float)`` is an uninitialised array, as ``cupy.ndarray``; arrays are
    usually made by :func:`asarray` or by the module's functions. Not a ``numpy.ndarray``
    subclass on purpose: NumPy turns a subclass into a plain array without asking it
    (``np.asarray``), which is the conversion to catch."""

    __slots__ = ("_a", "__weakref__")
    __hash__ = None

    def __init__(self, shape, dtype=float):
        self._a = np.empty(shape, dtype=_device_dtype(dtype))

    # attributes (CuPy's, read from the data)
    shape = property(lambda self: self._a.shape, lambda self, v: setattr(self._a, "shape", v))
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: _wrap(self._a.T))
    mT = property(lambda self: _wrap(self._a.mT))
    real = property(lambda self: _wrap(self._a.real))
    imag = property(lambda self: _wrap(self._a.imag))
    device = property(lambda self: "emulated")

    # explicit transfers and the host syncs CuPy allows
    def get(self, stream=None, order="C", out=None, blocking=True):
        """A NumPy copy on the host (``cupy.ndarray.get``); into ``out`` if given."""
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        """Copy the host array ``arr`` into this array (``cupy.ndarray.set``)."""
        self._a[...] = arr

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    def tobytes(self, order="C"):
        return self._a.tobytes(order)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __complex__(self):
        return complex(self._a)

    def __bool__(self):
        return bool(self._a)

    def __len__(self):
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (_wrap(row) for row in self._a)

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a, spec)

    def __copy__(self):
        return _wrap(self._a.copy())

    def __deepcopy__(self, memo):
        return _wrap(self._a.copy())

    def __reduce__(self):
        return (_from_host, (self._a.copy(),))

    # NumPy's protocols: where implicit conversions and NumPy functions are caught
    def __array__(self, dtype=None, copy=None):
        if _minigan_is_asking():
            raise TypeError(_IMPLICIT)
        return np.array(self._a, dtype=dtype, copy=True)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # Reached by np.exp(x), by host + x (a NumPy array on the left), and by a NumPy scalar
        # on the left of an operator (np.float32(2) * x), which NumPy routes through its ufunc.
        (args, kw), found_host = _unwrap((inputs, kwargs))
        if method == "__call__" and ufunc in _OPERATOR_UFUNCS and not kwargs and \
                all(isinstance(v, (ndarray, numbers.Number, np.generic)) for v in inputs):
            return _wrap(ufunc(*args))            # a scalar's operator: on the device, as CuPy
        if _minigan_is_asking():
            if found_host:
                _refuse_host(f"numpy.{ufunc.__name__}")
            _refuse_numpy(ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}")
        # the caller's code asked NumPy: a NumPy result (a device out= array stays one)
        result = getattr(ufunc, method)(*args, **kw)
        return _wrap(result, _outputs(kwargs)) if _outputs(kwargs) else result

    def __array_function__(self, func, types, args, kwargs):
        if _minigan_is_asking():
            _refuse_numpy(func.__name__)
        # the caller's code asked NumPy: a NumPy result (a device out= array stays one)
        (args, kw), _ = _unwrap((args, kwargs))
        result = func(*args, **kw)
        return _wrap(result, _outputs(kwargs)) if _outputs(kwargs) else result

    # indexing: host integer/boolean indices and host values are copied to the device (CuPy)
    def __getitem__(self, index):
        (index,), _ = _unwrap((index,))
        return _wrap(self._a[index])

    def __setitem__(self, index, value):
        (index, value), _ = _unwrap((index, value))
        self._a[index] = value


def _from_host(a):
    return _wrap(a)


def _device_dtype(dtype):
    """``dtype``, refused (as CuPy does) if it is not numbers: objects, strings, datetimes."""
    dt = np.dtype(dtype)
    if dt.kind not in "biufc":
        raise ValueError(f"Unsupported dtype {dt} (the emulated device, as CuPy, holds "
                         "booleans and numbers only)")
    return dt


def _wrap(result, outputs=()):
    """A NumPy result as device arrays: arrays and NumPy scalars (-> 0-d arrays), also inside
    tuples and lists; ``outputs``: the device arrays passed as ``out=``, returned as themselves."""
    if isinstance(result, np.ndarray):
        for out in outputs:
            if out._a is result:
                return out
        _device_dtype(result.dtype)
        w = ndarray.__new__(ndarray)
        w._a = result
        return w
    if isinstance(result, np.generic):
        return _wrap(np.asarray(result))
    if isinstance(result, tuple):
        return tuple(_wrap(r, outputs) for r in result)
    if isinstance(result, list):
        return [_wrap(r, outputs) for r in result]
    return result


def _unwrap(obj):
    """(``obj`` with every device array replaced by its data, whether a host array was found),
    looking inside tuples, lists and dicts."""
    found = [False]

    def go(o):
        if isinstance(o, ndarray):
            return o._a
        if isinstance(o, np.ndarray):
            found[0] = True
            return o
        if isinstance(o, tuple):
            return tuple(go(v) for v in o)
        if isinstance(o, list):
            return [go(v) for v in o]
        if isinstance(o, dict):
            return {k: go(v) for k, v in o.items()}
        return o

    return go(obj), found[0]


def _outputs(kwargs):
    out = kwargs.get("out")
    if out is None:
        return ()
    return tuple(o for o in (out if isinstance(out, tuple) else (out,)) if isinstance(o, ndarray))


def _device_op(what, np_call, args, kwargs):
    """Run ``np_call`` on the data of ``args``/``kwargs`` and wrap the result; a host array
    among them is refused when minigan asks."""
    (a, kw), found_host = _unwrap((args, kwargs))
    if found_host and _minigan_is_asking():
        _refuse_host(what)
    return _wrap(np_call(*a, **kw), _outputs(kwargs))


# --- the methods and operators of ndarray ------------------------------------------------------

def _method(name):
    host_ok = name in ("take", "put")        # indices, as in indexing: CuPy copies them over
    def method(self, *args, **kwargs):
        (a, kw), found_host = _unwrap((args, kwargs))
        if found_host and not host_ok and _minigan_is_asking():
            _refuse_host(f"ndarray.{name}")
        result = getattr(self._a, name)(*a, **kw)
        return self if result is self._a else _wrap(result, _outputs(kwargs))
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``numpy.ndarray.{name}`` on the device (a device result)."
    return method


# cupy.ndarray's methods (those NumPy's ndarray has too)
for _name in ("all any argmax argmin argpartition argsort astype choose clip compress conj "
              "conjugate copy cumprod cumsum diagonal dot fill flatten max mean min nonzero "
              "partition prod put ravel repeat reshape round searchsorted sort squeeze std "
              "sum swapaxes take trace transpose var view").split():
    setattr(ndarray, _name, _method(_name))


def _defers(other) -> bool:
    """Whether ``other`` asks to handle the operator itself (``__array_ufunc__ = None``, as
    ``pytest.approx``): CuPy (and NumPy) then return NotImplemented, so Python asks it."""
    return getattr(type(other), "__array_ufunc__", False) is None


def _operand(other, what):
    """The data of an operator's other operand, NotImplemented for a type CuPy refuses."""
    if isinstance(other, ndarray):
        return other._a
    if _defers(other):
        return NotImplemented
    if isinstance(other, np.ndarray):
        if _minigan_is_asking():
            _refuse_host(what)
        return other
    if isinstance(other, (numbers.Number, np.generic)):
        return other
    return NotImplemented


def _binary(ufunc, reflected=False):
    def op(self, other):
        o = _operand(other, f"the operator for numpy.{ufunc.__name__}")
        if o is NotImplemented:
            return NotImplemented
        return _wrap(ufunc(o, self._a) if reflected else ufunc(self._a, o))
    return op


def _inplace(ufunc):
    def op(self, other):
        o = _operand(other, f"the in-place operator for numpy.{ufunc.__name__}")
        if o is NotImplemented:
            return NotImplemented
        ufunc(self._a, o, out=self._a)
        return self
    return op


def _compare(ufunc, empty_answer):
    def op(self, other):
        if isinstance(other, np.ndarray) and other.ndim == 0:
            other = other.item()                  # as CuPy: a 0-d host array is a scalar here
        if _defers(other):
            return NotImplemented
        if other is None or not isinstance(other, (ndarray, np.ndarray, numbers.Number,
                                                    np.generic)):
            # CuPy: a comparison with anything else is all False (==) or all True (!=)
            if empty_answer is None:
                return NotImplemented
            return _wrap(np.full(self._a.shape, empty_answer))
        o = _operand(other, f"the comparison numpy.{ufunc.__name__}")
        return _wrap(ufunc(self._a, o))
    return op


_ARITHMETIC = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
               "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power,
               "matmul": np.matmul, "and": np.bitwise_and, "or": np.bitwise_or,
               "xor": np.bitwise_xor, "lshift": np.left_shift, "rshift": np.right_shift}
for _name, _uf in _ARITHMETIC.items():
    setattr(ndarray, f"__{_name}__", _binary(_uf))
    setattr(ndarray, f"__r{_name}__", _binary(_uf, reflected=True))
    setattr(ndarray, f"__i{_name}__", _inplace(_uf))
ndarray.__divmod__ = _binary(np.divmod)
ndarray.__rdivmod__ = _binary(np.divmod, reflected=True)
for _name, _uf, _other in (("lt", np.less, None), ("le", np.less_equal, None),
                           ("gt", np.greater, None), ("ge", np.greater_equal, None),
                           ("eq", np.equal, False), ("ne", np.not_equal, True)):
    setattr(ndarray, f"__{_name}__", _compare(_uf, _other))
for _name, _uf in (("neg", np.negative), ("pos", np.positive), ("abs", np.absolute),
                   ("invert", np.invert)):
    setattr(ndarray, f"__{_name}__", (lambda uf: lambda self: _wrap(uf(self._a)))(_uf))

# The ufuncs a NumPy scalar on the left of an operator sends through __array_ufunc__.
_OPERATOR_UFUNCS = frozenset(list(_ARITHMETIC.values()) + [
    np.divmod, np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal])


# --- the module's functions ----------------------------------------------------------------------

def asarray(a, dtype=None, order=None, *, blocking=False):
    """``a`` on the device: a device array as it is (or cast), host data copied over."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
    (a,), _ = _unwrap((a,))               # a list of device arrays, say
    return _wrap(np.array(a, dtype=None if dtype is None else _device_dtype(dtype),
                          order=order, copy=True))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """A new device array (a copy, as ``copy=True``), from device or host data."""
    if isinstance(obj, ndarray) and not copy:
        return asarray(obj, dtype)
    (obj,), _ = _unwrap((obj,))
    return _wrap(np.array(obj, dtype=None if dtype is None else _device_dtype(dtype), copy=True,
                          order=order, ndmin=ndmin))


asanyarray = asarray


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """The explicit transfer to the host (``cupy.asnumpy``): a NumPy copy."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args):
    """This module if any argument is an emulated device array, else numpy (as CuPy's)."""
    for a in args:
        if isinstance(a, ndarray):
            return sys.modules[__name__]
    return np


class ufunc:
    """A NumPy ufunc on the device: ``xp.add(x, y)``, ``xp.add.at(x, idx, v)``, ``.reduce``."""

    def __init__(self, np_ufunc):
        self._ufunc = np_ufunc
        self.__name__ = np_ufunc.__name__
        self.nin, self.nout = np_ufunc.nin, np_ufunc.nout

    def __repr__(self):
        return f"<emulated ufunc {self.__name__!r}>"

    def __call__(self, *args, **kwargs):
        return _device_op(f"xp.{self.__name__}", self._ufunc, args, kwargs)

    def at(self, a, indices, b=None):
        """In place, unbuffered (``cupy.add.at``); host indices are allowed, as in indexing.
        CuPy has ``at`` for add, maximum and minimum only (a scatter on the device)."""
        self._only(("add", "maximum", "minimum"), "at")
        (idx,), _ = _unwrap((indices,))
        rest = () if b is None else (b,)
        _device_op(f"xp.{self.__name__}.at", lambda x, *v: self._ufunc.at(x, idx, *v),
                   (a,) + rest, {})

    def reduce(self, *args, **kwargs):
        self._only(("add", "multiply"), "reduce")          # CuPy: sum and prod
        return _device_op(f"xp.{self.__name__}.reduce", self._ufunc.reduce, args, kwargs)

    def accumulate(self, *args, **kwargs):
        self._only(("add", "multiply"), "accumulate")      # CuPy: cumsum and cumprod
        return _device_op(f"xp.{self.__name__}.accumulate", self._ufunc.accumulate, args, kwargs)

    def outer(self, *args, **kwargs):
        return _device_op(f"xp.{self.__name__}.outer", self._ufunc.outer, args, kwargs)

    def reduceat(self, *args, **kwargs):
        self._only(("add",), "reduceat")
        return _device_op(f"xp.{self.__name__}.reduceat", self._ufunc.reduceat, args, kwargs)

    def _only(self, names, method):
        if self.__name__ not in names:
            raise NotImplementedError(f"`{self.__name__}.{method}` is not supported yet "
                                      "(CuPy's message: it has no such method)")


def _function(name, np_func):
    @functools.wraps(np_func)
    def function(*args, **kwargs):
        return _device_op(f"xp.{name}", np_func, args, kwargs)
    function.__module__ = __name__
    return function


class _Namespace(types.SimpleNamespace):
    """A sub-module (``linalg``): NumPy's functions of the same names, on the device."""

    def __init__(self, name, np_module, names):
        super().__init__(**{n: _function(f"{name}.{n}", getattr(np_module, n)) for n in names})


linalg = _Namespace("linalg", np.linalg, ("norm", "svd", "qr", "inv", "solve", "det", "eigh",
                                          "eigvalsh", "cholesky", "slogdet", "pinv",
                                          "matrix_rank", "lstsq"))

# NumPy names that CuPy (14) does not have: not emulated, so that code using them fails here
# as it would on a GPU. (From comparing the two namespaces; the rest of NumPy's names exist.)
NOT_IN_CUPY = frozenset("""
    asmatrix block bmat bool broadcast_shapes busday_count busday_offset busdaycalendar char
    ctypeslib datetime64 datetime_as_string datetime_data einsum_path emath errstate f2py
    frompyfunc fromregex geomspace getbufsize geterr geterrcall histogram_bin_edges insert
    is_busday isnat lib ma matrix matvec memmap nanpercentile nanquantile ndenumerate nditer
    nested_iters polyder polydiv polyint rec recarray record setbufsize seterr seterrcall
    spacing strings timedelta64 unstack vecdot vecmat
""".split())

# NumPy's non-array names that are CuPy's too (dtypes, limits, constants): served as they are.
_AS_IS = (type, np.dtype, float, int, type(None))


def __getattr__(name):
    """``xp.<name>`` for NumPy's functions: a device version, made on first use."""
    if name.startswith("_") or name in NOT_IN_CUPY or not hasattr(np, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}"
                             + (" (CuPy has none either)" if name in NOT_IN_CUPY else ""))
    obj = getattr(np, name)
    if isinstance(obj, np.ufunc):
        value = ufunc(obj)
    elif isinstance(obj, _AS_IS) or isinstance(obj, type):
        value = obj                                 # float32, dtype, finfo, inf, newaxis, ...
    elif callable(obj):
        value = _function(name, obj)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r} (not emulated)")
    globals()[name] = value
    return value


# --- random numbers: CuPy's Generator API, NumPy's bits --------------------------------------

class Generator:
    """``cupy.random.Generator`` on the emulated device, drawing NumPy's numbers.

    ``default_rng(seed)`` draws exactly what ``numpy.random.default_rng(seed)`` draws (so an
    emulated run gives NumPy's results), as device arrays, but offers CuPy's methods only:
    ``normal``, ``permutation``, ``choice`` and ``shuffle`` are missing, as in CuPy, and
    ``size=None`` gives a 0-d device array where NumPy gives a Python number."""

    def __init__(self, bit_generator):
        self._g = (bit_generator if isinstance(bit_generator, np.random.Generator)
                   else np.random.Generator(bit_generator))

    def __repr__(self):
        return f"emulated Generator({self._g.bit_generator!r})"

    def _draw(self, method, *args, **kwargs):
        (args, kwargs), _ = _unwrap((args, kwargs))       # host arguments are fine (CuPy's too)
        return _wrap(np.asarray(getattr(self._g, method)(*args, **kwargs)))

    def random(self, size=None, dtype=np.float64, out=None):
        if out is not None:
            self._g.random(size, dtype, out=out._a)
            return out
        return self._draw("random", size, dtype)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        if out is not None:
            self._g.standard_normal(size, dtype, out=out._a)
            return out
        return self._draw("standard_normal", size, dtype)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return self._draw("uniform", low, high, size).astype(dtype, copy=False)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return self._draw("integers", low, high, size, dtype, endpoint)

    def standard_exponential(self, size=None, dtype=np.float64, method="zig", out=None):
        return self._draw("standard_exponential", size, dtype, method)


for _name in ("beta binomial chisquare dirichlet exponential f gamma geometric hypergeometric "
              "logseries poisson power standard_gamma").split():
    setattr(Generator, _name, (lambda n: lambda self, *a, **k: self._draw(n, *a, **k))(_name))


def default_rng(seed=None):
    """A :class:`Generator` (``cupy.random.default_rng``): an int, a list of ints, a
    SeedSequence, or a Generator (returned as it is)."""
    if isinstance(seed, Generator):
        return seed
    return Generator(np.random.default_rng(seed))


random = types.SimpleNamespace(default_rng=default_rng, Generator=Generator)
