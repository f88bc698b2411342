"""The loop around any model's ``train_step``: progress, logging, samples, checkpoints, resume.

A model is anything with ``train_step(batch) -> dict of floats``, ``step`` (completed
steps), ``state_dict()``/``load_state_dict()``, ``config`` and ``name``. The batches come
from ``batch_fn(step)``: a pure function of the step number, so that a run resumed at
step k sees exactly the batches (and, since models draw their noise per step too, the
noise) of an uninterrupted run: same seed + resume from step k = the same parameters.

Nothing is lost:
- checkpoints are written to a temporary file and renamed over the old one (an
  interrupted write never leaves a half-written checkpoint); the temporary files that a
  killed run leaves behind are removed by the next run in that directory;
- a NaN or infinite loss stops training with :class:`TrainingDiverged`, whose message
  names the step and the last good checkpoint, which is left untouched; if the batch of
  that step was itself not finite, :class:`DataNotFinite` blames the data instead;
- before each checkpoint, every parameter and optimiser state array is checked: a huge
  learning rate can make Adam's moments infinite while the losses still look finite, and
  such a state is never written (:class:`TrainingDiverged` names the tensor);
- one process at a time writes a run directory: :func:`run_lock` (a lock file holding the
  pid, taken over when its process is gone).
"""
from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import os
import socket
import sys
import threading
import time
import zipfile

import numpy as np

from .backend import blas_threads, get_array_module
from .fileio import atomic_file

CHECKPOINT = "checkpoint.npz"
LOCK = ".minigan.lock"
# The names of the temporary files that save_checkpoint and write_json rename into place: one
# left in a run directory was orphaned by a kill between its creation and its rename.
TEMPORARY = (".checkpoint-*.npz", ".tmp-*.json")


class TrainingDiverged(RuntimeError):
    """A loss, a parameter or an optimiser state became NaN or infinite."""


class DataNotFinite(TrainingDiverged):
    """A loss became NaN or infinite on a batch that itself holds NaN or infinite values: the
    data are at fault, and a lower learning rate would not help."""


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit the model."""


class RunLocked(RuntimeError):
    """Another run (a live process, or another thread of this one) is writing the directory."""


# --- checkpoints ------------------------------------------------------------------------
# The metadata of a checkpoint (the JSON in its "__meta__" entry): its keys and their types.
# "model", "config" and "step" are always there; "run" (how the run was made: data, seed,
# batch size, steps) is what the CLI adds through fit's checkpoint_meta; "history" is what fit
# logged up to that step and its cadence ({"log_every": L, "rows": {"step": [...], ...}}), so
# that the log is as durable as the parameters (history.json is a copy of it).
META_KEYS = {"model": str, "config": dict, "step": int, "run": dict, "history": dict}
META_REQUIRED = ("model", "config", "step")


def save_checkpoint(path, model, extra: dict | None = None, state: dict | None = None):
    """Write ``model``'s state (and JSON-able ``extra``) atomically to ``path`` (.npz).
    ``state``: ``model.state_dict()`` when the caller already has it (fit checks it first).

    ``extra``: further metadata, under the keys of :data:`META_KEYS` other than the model's
    own ("run", "history"); any other key is a ValueError here, since :func:`read_checkpoint`
    refuses metadata it does not know. The file is written whole or not at all, with the
    permissions of a plain ``open()`` (:func:`minigan.fileio.atomic_file`)."""
    extra = dict(extra or {})
    bad = sorted(set(extra) - (set(META_KEYS) - set(META_REQUIRED)))
    if bad:
        raise ValueError(f"save_checkpoint: unknown metadata {', '.join(map(repr, bad))}: "
                         f"the allowed extra keys are "
                         f"{', '.join(repr(k) for k in META_KEYS if k not in META_REQUIRED)} "
                         f"(model, config and step are the model's own)")
    state = dict(model.state_dict() if state is None else state)
    meta = {"model": model.name, "config": model.config, "step": int(model.step), **extra}
    state["__meta__"] = np.asarray(json.dumps(meta))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with atomic_file(path, prefix=".checkpoint-", suffix=".npz", sync=True) as f:
            np.savez(f, **state)
    except OSError as exc:             # a full disk, a quota, a directory made read-only
        kept = (f"the previous checkpoint {path} is kept, unchanged"
                if os.path.exists(path) else "no earlier checkpoint was there")
        raise CheckpointError(
            f"could not write the checkpoint {path}: {exc.strerror or exc} "
            f"(a full disk?); nothing half-written was left, and {kept}") from exc


def read_checkpoint(path):
    """(meta dict, state dict of arrays) from a checkpoint (file or run directory).

    Anything else is a :class:`CheckpointError` whose message names the file: no file, a
    file that is not a .npz archive, a damaged archive (zip structure, .npy headers, a
    wrong CRC, an array whose header announces more or fewer bytes than its member holds),
    a member that holds Python objects (pickled data: never loaded), and metadata that is
    missing, not JSON, or malformed (see :data:`META_KEYS`: required keys, no unknown keys,
    each of its type; the step of the metadata must be the state's)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = _read_npz(path)
    except CheckpointError:
        raise
    except Exception as exc:      # damaged zip/.npy structures raise many kinds of errors
        raise CheckpointError(f"checkpoint {path} is corrupt or not a minigan checkpoint "
                              f"({type(exc).__name__}: {exc})") from exc
    meta = _read_meta(path, state.pop("__meta__", None))
    step = state.get("step")
    if isinstance(step, np.ndarray) and step.shape == () and step.dtype.kind in "iu" \
            and int(step) != meta["step"]:
        raise CheckpointError(f"checkpoint {path} is corrupt: its metadata says step "
                              f"{meta['step']}, its state step {int(step)}")
    return meta, state


def _bad(path, why):
    return CheckpointError(f"checkpoint {path} is corrupt or not a minigan checkpoint: {why}")


def _read_npz(path):
    """The arrays of the .npz at ``path``, read member by member without np.load: every
    header is checked against the member's size before any array is allocated, and arrays
    of Python objects (which would need pickle) are refused."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise _bad(path, "not a .npz file (a zip archive of .npy arrays, as np.savez writes)")
    state = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                raise _bad(path, f"its member {name!r} is not a .npy array")
            key = name[:-4]
            if key in state:
                raise _bad(path, f"it holds the array {key!r} twice")
            state[key] = _read_member(path, zf, info)
    return state


def _read_member(path, zf, info):
    fmt = np.lib.format
    with zf.open(info) as fp:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran_order, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran_order, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise _bad(path, f"its member {info.filename!r} has .npy format version {version}")
        if dtype.hasobject:
            raise _bad(path, f"its member {info.filename!r} holds Python objects (dtype "
                             f"{dtype}); minigan checkpoints hold numbers only, and pickled "
                             f"data is never loaded")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        held = info.file_size - fp.tell()
        if nbytes != held:
            raise _bad(path, f"the header of its member {info.filename!r} announces shape "
                             f"{shape} of {dtype} ({nbytes} bytes), the member holds {held}")
        data = fp.read(nbytes)
        if len(data) != nbytes or fp.read(1):       # (reading to the end checks the CRC)
            raise _bad(path, f"its member {info.filename!r} is not as long as its header says")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran_order else "C").copy()


def _read_meta(path, raw):
    """The metadata dict from the "__meta__" array, checked (see :data:`META_KEYS`)."""
    if raw is None:
        raise _bad(path, "it has no metadata (no '__meta__' entry)")
    if raw.shape != () or raw.dtype.kind != "U":
        raise _bad(path, f"its metadata is not a JSON string (dtype {raw.dtype}, shape "
                         f"{raw.shape})")
    try:
        meta = json.loads(str(raw))
    except (ValueError, RecursionError) as exc:
        raise _bad(path, f"its metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise _bad(path, f"its metadata is a JSON {type(meta).__name__}, expected an object "
                         f"with {', '.join(META_REQUIRED)}")
    missing = [k for k in META_REQUIRED if k not in meta]
    if missing:
        raise _bad(path, f"its metadata lacks {', '.join(map(repr, missing))}")
    unknown = [k for k in meta if k not in META_KEYS]
    if unknown:
        raise _bad(path, f"its metadata has unknown keys {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(META_KEYS)})")
    for key, kind in META_KEYS.items():
        if key in meta and (not isinstance(meta[key], kind) or isinstance(meta[key], bool)):
            raise _bad(path, f"its metadata's {key!r} is a {type(meta[key]).__name__} "
                             f"({meta[key]!r:.60}), expected a {kind.__name__}")
    if meta["step"] < 0:
        raise _bad(path, f"its metadata's step is {meta['step']}, expected >= 0")
    if "history" in meta:
        h = meta["history"]
        rows, every = h.get("rows"), h.get("log_every")
        if not (isinstance(every, int) and not isinstance(every, bool) and every > 0
                and isinstance(rows, dict) and isinstance(rows.get("step"), list)
                and all(isinstance(v, list) and len(v) == len(rows["step"])
                        for v in rows.values())):
            raise _bad(path, "its metadata's history is not {'log_every': a positive int, "
                             "'rows': {'step': [...], name: [...] of as many values}}")
    return meta


# --- what a checkpoint's config may ask for ------------------------------------------------
# load_model rebuilds a model from its checkpoint's config, type(model)(**config): sizes that
# come from a file. Two checks keep a crafted or damaged config from taking the machine:
# 1. before anything is built, every integer in the config (at the top or in its lists, as
#    data_shape) other than CONFIG_COUNTS must be at most CONFIG_SIZE_BOUND: no minigan model
#    has a size near it (the presets' largest is 500, SeqGAN's vocabulary), yet it bounds the
#    sizes that allocate outside the layers (a sequence's length, the sample history's size);
# 2. the model is then built inside an allocation budget (minigan.nn.module.allocation_budget):
#    each layer charges its parameters, their gradients and its buffers before it allocates
#    them, and one that would take the model past the budget is refused before allocating
#    anything. The budget is the smaller of
#    - what the checkpoint's own arrays allow: strict loading needs every parameter and buffer
#      of the model among them, so a model that fits its checkpoint never charges more than
#      twice their values (a parameter and its gradient) at 8 bytes each, plus LAYER_BYTES per
#      array; they are in memory already, read from the file, so a config that asks for more
#      is refused at the cost of what the file itself brought;
#    - a 1/BUILD_SHARE of memory_limit() (half of this machine's memory): the parameters and
#      gradients are 2 of the at most 6 copies of each parameter that a model keeps while it
#      trains (with Adam's two moments, an EMA and a historical average), which must all fit.
#    This counts exactly what the layers allocate, for every model, with no second copy of the
#    networks' architecture to keep in step with gans/.
CONFIG_SIZE_BOUND = 2**24
# The config entries that count steps or seed a generator rather than size anything: no bound.
CONFIG_COUNTS = ("seed", "pretrain_g_steps", "pretrain_d_steps", "lr_half_life")
BUILD_SHARE = 3


def memory_limit():
    """The most memory a training run may plan to take: half of this machine's memory (the
    smaller of the physical memory and a cgroup's limit, where they can be read; else 16
    GiB). Half, since the estimate is rough and the machine runs other things."""
    total = 16 * 2**30
    with contextlib.suppress(ValueError, OSError, AttributeError):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError), open(path) as f:
            total = min(total, int(f.read().strip()))
    return total // 2


def _config_ints(value):
    """The ints in a config value (an int, or lists of them, nested to any depth, walked
    without recursion): no bools, no floats."""
    out, stack = [], [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            out.append(v)
    return out


def _config_sizes(config):
    """{entry: its size} for the sizing entries of ``config``: an int itself, a list of ints
    (a shape: data_shape) their product, nested lists (pairs: d_windows) their largest int."""
    out = {}
    for key, value in config.items():
        ints = _config_ints(value)
        if key in CONFIG_COUNTS or not ints:
            continue
        flat = isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value)
        out[key] = math.prod(ints) if flat else max(ints)
    return out


def check_config_sizes(path, config):
    """Raise a :class:`CheckpointError` naming the checkpoint ``path`` and the entry when an
    integer of ``config`` (outside :data:`CONFIG_COUNTS`) is above :data:`CONFIG_SIZE_BOUND`."""
    for key, value in config.items():
        if key in CONFIG_COUNTS:
            continue
        big = [i for i in _config_ints(value) if i > CONFIG_SIZE_BOUND]
        if big:
            what = "is" if isinstance(value, int) else f"holds {big[0]},"
            raise CheckpointError(
                f"checkpoint {path}: its config's {key} = {value!r:.80} {what} above "
                f"{CONFIG_SIZE_BOUND} (2**24), the largest size minigan builds from a checkpoint "
                f"(a size that large asks for at least {_bytes(big[0] * 4)}, if only for one "
                f"float32 array of it); the file is damaged or was not written by minigan, and "
                f"nothing was built from it")


def _blame(cls, config, exc):
    """The entry of ``config`` most likely behind ``exc`` (a BudgetExceeded), as "name = value",
    or None. Of the sizing entries (:func:`_config_sizes`):
    - when the layer refused is over the budget on its own (one layer too large), the largest
      of those whose size is one of the layer's sizes and is not below the constructor's
      default: the width or the shape that made it;
    - else (the layers before it took the budget: too many of them), or when none is, the one
      furthest above its default, if at least twice it (a ratio: an entry whose default is not
      a size is left out). None when no entry stands out: a model simply too large."""
    import inspect
    try:
        defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    except (TypeError, ValueError):
        defaults = {}
    sizes = _config_sizes(config)
    base = _config_sizes({k: defaults[k] for k in sizes if k in defaults})

    def over(k):                        # (an int too large for a float: a crafted product)
        try:
            return sizes[k] / base[k]
        except OverflowError:
            return math.inf
    ratio = {k: over(k) for k in sizes if base.get(k, 0) > 0}
    if exc.nbytes > exc.limit:
        direct = [k for k in sizes if sizes[k] in exc.sizes and ratio.get(k, 1) >= 1]
        if direct:
            key = max(direct, key=lambda k: sizes[k])
            return f"{key} = {config[key]!r:.80}"
    above = [k for k in ratio if ratio[k] >= 2]
    if not above:
        return None
    key = max(above, key=lambda k: ratio[k])
    return f"{key} = {config[key]!r:.80}"


def checkpoint_allowance(state):
    """The most bytes the layers of a model that fits the checkpoint ``state`` (its arrays, as
    :func:`read_checkpoint` returns them) charge while they are built: each parameter and
    buffer of the model is one of the arrays (strict loading), kept with its gradient (twice),
    at most 8 bytes a value, and :data:`minigan.nn.module.LAYER_BYTES` per array."""
    from .nn.module import LAYER_BYTES
    return sum(2 * 8 * int(v.size) + LAYER_BYTES for v in state.values())


def _bytes(nbytes):
    from .nn.module import format_bytes
    return format_bytes(nbytes)


def load_model(path, max_bytes=None):
    """Rebuild a model from a checkpoint (file or run directory): (model, meta).

    A :class:`CheckpointError` naming the file when it cannot be read (see
    :func:`read_checkpoint`), names an unknown model, holds a config that does not build
    that model, or holds a state that does not fit it (strictly: every entry, no other).
    Also when its config asks for more than the file holds or this machine can give (the
    section above: a size above :data:`CONFIG_SIZE_BOUND`, or layers that would take more
    than the checkpoint's arrays allow, :func:`checkpoint_allowance`, or than a
    1/:data:`BUILD_SHARE` of ``max_bytes``, by default :func:`memory_limit`): refused before
    the layer that would go over allocates anything, naming the config entry and the memory."""
    from .gans import get_model_class
    from .nn.module import BudgetExceeded, allocation_budget
    meta, state = read_checkpoint(path)
    try:
        cls = get_model_class(meta["model"])
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from exc
    check_config_sizes(path, meta["config"])
    limit = memory_limit() if max_bytes is None else max_bytes
    held = checkpoint_allowance(state)
    try:
        with allocation_budget(min(held, limit // BUILD_SHARE)):
            model = cls(**meta["config"])
    except BudgetExceeded as exc:
        entry = _blame(cls, meta["config"], exc)
        asks = (f"checkpoint {path}: its config{f' ({entry})' if entry else ''} asks for "
                f"networks larger than")
        layer = exc.layer if len(exc.layer) <= 160 else exc.layer[:150] + "...)"
        took = (f"building them came to {layer}, which would take {_bytes(exc.nbytes)} more "
                f"(after {_bytes(exc.spent)} for the layers before it) for its parameters, their "
                f"gradients and its buffers")
        if held <= limit // BUILD_SHARE:
            raise CheckpointError(
                f"{asks} the checkpoint holds: {took}, past the {_bytes(exc.limit)} that the "
                f"{sum(int(v.size) for v in state.values())} values of its arrays allow (every "
                f"parameter must be one of them); the file is damaged or was not written by "
                f"minigan, and this layer was refused before allocating it") from None
        raise CheckpointError(
            f"{asks} this machine can hold: {took}, past the {_bytes(exc.limit)} they may take "
            f"(a third of the {_bytes(limit)} allowed, half of this machine's memory); refused "
            f"before allocating it") from None
    except Exception as exc:     # the config comes from the file: whatever it breaks is its fault
        raise CheckpointError(f"checkpoint {path}: its config does not build a "
                              f"{meta['model']!r} model ({type(exc).__name__}: {exc})") from exc
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} does not fit model {meta['model']!r}: {exc}") from exc
    return model, meta


# --- the run directory: one writer at a time, no orphaned temporary files -----------------
_held = {}      # real path of a run directory this process holds -> [thread id, depth]
_held_guard = threading.Lock()


@contextlib.contextmanager
def run_lock(out, stream=None):
    """Hold the run directory ``out`` (created if need be) while the block runs, so that two
    runs never write one directory at once: their checkpoints, histories and snapshots would
    interleave into a run that neither made.

    The lock is the file ``out/.minigan.lock``, created with O_CREAT | O_EXCL (only one
    process can create it) and holding "pid host"; it is removed when the block ends, on an
    error or Ctrl-C too. A lock whose process is no longer running (killed: nothing removed
    it) is taken over, with a notice on ``stream``; a live one raises :class:`RunLocked`.
    Reentrant within a thread (the CLI holds the directory around :func:`fit`, which takes
    it too). On taking the lock, temporary checkpoint files left by a killed run are removed
    (:func:`remove_orphans`): once the lock is ours, no other process is writing them.
    """
    stream = stream or sys.stderr
    key = os.path.realpath(out)
    path = os.path.join(out, LOCK)
    with _held_guard:           # threads of this process: one looks and takes at a time
        held = _held.get(key)
        if held is not None and held[0] != threading.get_ident():
            raise RunLocked(f"{out} is being written by another thread of this process; "
                            f"train into another directory")
        if held is None:
            try:
                os.makedirs(out, exist_ok=True)
            except OSError as exc:      # e.g. under /proc, a read-only disk, a full one
                raise ValueError(f"cannot create the run directory {out} "
                                 f"({exc.strerror or exc}); choose another --out") from None
            _acquire(path, stream)
            _held[key] = [threading.get_ident(), 0]
        held = _held[key]
        held[1] += 1
    if held[1] > 1:
        try:
            yield
        finally:
            held[1] -= 1
        return
    try:
        remove_orphans(out, stream)
        yield
    finally:
        with _held_guard:
            del _held[key]
        if _read_lock(path) == (os.getpid(), socket.gethostname()):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def _acquire(path, stream):
    for _ in range(5):          # a retry only after removing a stale lock that another run
        try:                    # may have replaced in the meantime
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read_lock(path)
            why = _stale(path, owner)
            if why is None:
                who = f"pid {owner[0]} on {owner[1]}" if owner else "its pid not written yet"
                raise RunLocked(
                    f"another run ({who}) is writing {os.path.dirname(path)}: "
                    f"its lock is {path}. Wait for it, or train into another --out; if no run "
                    f"is using that directory any more, delete the lock file") from None
            if _read_lock(path) != owner:        # replaced since we read it: look again
                continue
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            print(f"minigan: taking over the stale lock {path} ({why})", file=stream)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        return
    raise RunLocked(f"could not take the lock {path}: other runs keep creating it")


def _read_lock(path):
    """(pid, host) from a lock file; None if it is missing, empty or unreadable."""
    try:
        with open(path) as f:
            pid, host = f.read().split(maxsplit=1)
        return int(pid), host.strip()
    except (OSError, ValueError):
        return None


def _stale(path, owner):
    """Why the lock at ``path`` held by ``owner`` (from :func:`_read_lock`) is stale, or None
    while its holder may be alive."""
    if owner is None:
        # empty: a run killed between creating the lock and writing its pid, or one doing
        # that right now; a few seconds tell the two apart
        try:
            age = time.time() - os.path.getmtime(path)
        except OSError:
            return "it is gone"
        return f"it names no process and is {age:.0f} s old" if age > 10 else None
    pid, host = owner
    if host != socket.gethostname():
        return None                               # another machine's process: cannot tell
    if pid == os.getpid():
        return "it names this process, which does not hold it"     # a reused pid
    return None if _pid_alive(pid) else f"its process {pid} is no longer running"


def _pid_alive(pid):
    if os.name != "posix":
        return True      # no safe check here (os.kill(pid, 0) would signal it on Windows)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True      # alive, another user's
    return True


def remove_orphans(out, stream=None):
    """Remove the temporary files (:data:`TEMPORARY`) that a run killed while writing a
    checkpoint or a JSON file left in ``out``; call it only while holding :func:`run_lock`.
    Returns their names."""
    try:
        names = sorted(n for n in os.listdir(out)
                       if any(fnmatch.fnmatchcase(n, pattern) for pattern in TEMPORARY))
    except FileNotFoundError:
        return []
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out, name))
    if names:
        print(f"minigan: removed {len(names)} temporary file(s) left in {out} by an interrupted "
              f"run: {', '.join(names)}", file=stream or sys.stderr)
    return names


# --- finiteness -----------------------------------------------------------------------------
def nonfinite_arrays(state: dict) -> list:
    """The names of the floating-point arrays of ``state`` that hold a NaN or an infinity."""
    return [name for name, v in state.items()
            if hasattr(v, "dtype") and v.dtype.kind in "fc"
            and not bool(get_array_module(v).isfinite(v).all())]


def nonfinite_in_batch(batch, where="batch"):
    """Where ``batch`` (an array, or tuples, lists and dicts of them: images and labels, one
    batch per critic step) holds NaN or infinite values: a list like ["batch[0]"]."""
    if isinstance(batch, (list, tuple)):
        return [w for i, b in enumerate(batch) for w in nonfinite_in_batch(b, f"{where}[{i}]")]
    if isinstance(batch, dict):
        return [w for k, b in batch.items() for w in nonfinite_in_batch(b, f"{where}[{k!r}]")]
    if isinstance(batch, float):
        return [] if math.isfinite(batch) else [where]
    if hasattr(batch, "dtype") and batch.dtype.kind in "fc":
        return [] if bool(get_array_module(batch).isfinite(batch).all()) else [where]
    return []


def _names(names, most=4):
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


# --- progress -----------------------------------------------------------------------------
def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel that can show tqdm's widget (ipywidgets there)."""
    shell = sys.modules.get("IPython")
    try:
        ip = shell.get_ipython() if shell else None
        if ip is None or "IPKernelApp" not in ip.config:
            return False
        import ipywidgets  # noqa: F401  (tqdm.notebook needs it)
        return True
    except Exception:
        return False


class Progress:
    """Training progress through tqdm: its widget in Jupyter, a one-line bar on a terminal;
    elsewhere (a log file, CI, a notebook without ipywidgets) plain lines, every ``every``
    steps, that read well in a log: ``step 200/2000 (10%) 41 steps/s eta 44 s loss_d=...``."""

    def __init__(self, total, start=0, stream=None, enabled=True, every=None):
        self.total, self.start, self.enabled = total, start, enabled
        self.stream = stream or sys.stderr
        self.every = every or max(1, total // 10)
        self.t0 = time.perf_counter()
        self.bar = None
        if not enabled:
            return
        if _in_notebook():
            from tqdm.notebook import tqdm
            self.bar = tqdm(total=total, initial=start, unit="step")
        elif hasattr(self.stream, "isatty") and self.stream.isatty():
            import shutil

            from tqdm import tqdm
            size = shutil.get_terminal_size((100, 24))     # a 0x0 pty says 0: tqdm would hide
            self.bar = tqdm(total=total, initial=start, file=self.stream, unit="step",
                            ncols=min(size.columns or 100, 140), nrows=size.lines or 24,
                            mininterval=0.2)

    def update(self, step, logs):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()}, refresh=False)
            self.bar.update(step - self.bar.n)
            if step >= self.total:
                self.bar.close()
            return
        if step % self.every and step != self.total:
            return
        rate = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
        eta = f"{(self.total - step) / rate:.0f} s" if rate > 0 else "?"
        vals = " ".join(f"{k}={v:.3f}" for k, v in logs.items())
        self.stream.write(f"step {step}/{self.total} ({100 * step // max(self.total, 1)}%) "
                          f"{rate:.0f} steps/s eta {eta} {vals}\n")
        self.stream.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()


# --- the loop ---------------------------------------------------------------------------
def fit(model, batch_fn, steps, out=None, *, checkpoint_every=None, log_every=None,
        on_sample=None, sample_every=None, evaluate=None, resume=False, progress=True,
        checkpoint_meta=None):
    """Train ``model`` until ``model.step == steps``.

    batch_fn(i) -> the i-th real batch of the data stream. A step takes
    k = ``model.batches_per_step`` of them (the model's batch contract: Algorithm 1's k
    discriminator steps sample one each), batches step·k .. step·k + k − 1, given to
    ``train_step`` as a list (one batch, not a list, when k = 1): a pure function of the
    step, so a resumed run sees the batches an uninterrupted one would.
    out: run directory for ``checkpoint.npz``, ``history.json`` and ``metrics.json`` (None: no files).
    checkpoint_every: steps between checkpoints (default: steps // 10, and always at the end).
    on_sample(model, step): called every ``sample_every`` steps (e.g. to save a snapshot).
    evaluate(model) -> dict: measured at the end and written to ``metrics.json``.
    resume: continue from ``out/checkpoint.npz`` (exactly: see the module docstring).
    checkpoint_meta: JSON-able dict stored in every checkpoint: {"run": how the run was made}.
    Returns the history: {"step": [...], "<loss name>": [...]} logged every ``log_every`` steps.

    With ``out``, the directory is held (:func:`run_lock`) for the whole run, and temporary
    files left by a killed run are removed first. Raises :class:`TrainingDiverged` when a loss
    or (checked before each checkpoint) a parameter or optimiser state is not finite, and
    :class:`DataNotFinite` when the batch was: in both cases nothing non-finite is written
    and the last good checkpoint is left as it was.
    """
    with run_lock(out) if out else contextlib.nullcontext():
        return _fit(model, batch_fn, steps, out, checkpoint_every, log_every, on_sample,
                    sample_every, evaluate, resume, progress, checkpoint_meta)


def _fit(model, batch_fn, steps, out, checkpoint_every, log_every, on_sample, sample_every,
         evaluate, resume, progress, checkpoint_meta):
    history = {"step": []}
    if resume:
        if out is None:
            raise ValueError("fit: resume=True needs the run directory `out`")
        meta, state = read_checkpoint(out)
        if meta["model"] != model.name:
            raise CheckpointError(f"checkpoint in {out} is for model {meta['model']!r}, not {model.name!r}")
        model.load_state_dict(state)
        saved = meta.get("history")    # checked by read_checkpoint
        if saved is not None:          # the log up to the checkpoint, and its cadence
            history = _history_rows(saved["rows"], model.step)
            log_every = log_every or saved["log_every"]
        else:                          # a checkpoint of an earlier version: the file
            history = _read_history(out, model.step)
    if steps < model.step:
        raise ValueError(f"fit: the model is already at step {model.step} > steps={steps}")
    checkpoint_every = checkpoint_every or max(1, steps // 10)
    log_every = log_every or max(1, steps // 200)
    if resume:
        # A row logged only because the earlier run ended there (off the cadence) is one an
        # uninterrupted run would not have: drop it when training goes on past it. With the
        # cadence kept from the first run, the history of a resumed run is then the history
        # of the uninterrupted one.
        if history["step"] and history["step"][-1] % log_every and history["step"][-1] < steps:
            for v in history.values():
                v.pop()
        if out:
            write_json(os.path.join(out, "history.json"), history)
    bar = Progress(steps, model.step, enabled=progress)
    ckpt = os.path.join(out, CHECKPOINT) if out else None
    with blas_threads(getattr(model, "blas_threads", None)), contextlib.closing(bar):
        while model.step < steps:
            step, k = model.step, model.batches_per_step
            batch = batch_fn(step) if k == 1 else [batch_fn(step * k + i) for i in range(k)]
            logs = model.train_step(batch)
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            if bad:
                what = f"{', '.join(bad)} became {logs[bad[0]]} at step {step}"
                where = nonfinite_in_batch(batch)
                if where:
                    raise DataNotFinite(
                        f"{what}, on a batch that holds NaN or infinite values ({_names(where)}): "
                        f"the data are at fault, not the training; training stopped and "
                        f"{_last_good(ckpt)}. Check the data (missing values, a division by zero "
                        f"in the preprocessing); a lower learning rate will not help.")
                raise TrainingDiverged(f"{what}; training stopped and {_last_good(ckpt)}. "
                                       f"Try a lower learning rate.")
            if model.step % log_every == 0 or model.step == steps:
                _append_logs(history, model.step, logs)
            if on_sample is not None and sample_every and model.step % sample_every == 0:
                on_sample(model, model.step)
            if ckpt and (model.step % checkpoint_every == 0 or model.step == steps):
                # a huge learning rate can make Adam's moments (then the parameters) infinite
                # while every loss is still finite: look at everything before writing it
                state = model.state_dict()
                bad = nonfinite_arrays(state)
                if bad:
                    raise TrainingDiverged(
                        f"training diverged: after {model.step} steps {_names(bad)} "
                        f"{'is' if len(bad) == 1 else 'are'} not finite (NaN or infinite), "
                        f"though the losses still are; this checkpoint was not written and "
                        f"{_last_good(ckpt)}. Try a lower learning rate.")
                # the history goes into the checkpoint itself: a kill between the two writes
                # loses nothing (history.json, a copy, is written again on resume)
                logged = {"log_every": int(log_every), "rows": strict_json(history)}
                save_checkpoint(ckpt, model, {**(checkpoint_meta or {}), "history": logged},
                                state=state)
                write_json(os.path.join(out, "history.json"), history)
            bar.update(model.step, logs)
    if evaluate is not None:
        metrics = {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                   for k, v in evaluate(model).items()}
        metrics["step"] = int(model.step)
        if out:
            write_json(os.path.join(out, "metrics.json"), metrics)
        history["metrics"] = metrics
    return history


def _last_good(ckpt):
    """The end of a divergence message: where the last good checkpoint is."""
    if ckpt and os.path.exists(ckpt):
        return f"the last good checkpoint is {ckpt} (step {read_checkpoint(ckpt)[0]['step']})"
    return "no checkpoint was written yet"


def write_json(path, obj):
    """Write ``obj`` as JSON to ``path`` atomically (a temporary file renamed into place).

    Strict JSON (RFC 8259): NaN and infinities, which JSON cannot express, are written as
    ``null``, never as the ``NaN``/``Infinity`` that Python's json writes by default and
    other readers refuse: in history.json a null is a loss not logged at that step (a phase
    that does not compute it) or a value that was not finite; in metrics.json a metric that
    could not be measured. :func:`_read_history` reads them back as NaN. NumPy scalars and
    arrays are written as numbers and lists. The file gets the permissions of a plain
    ``open()`` (:func:`minigan.fileio.atomic_file`)."""
    text = json.dumps(strict_json(obj), indent=1, allow_nan=False)
    with atomic_file(path, prefix=".tmp-", suffix=".json", mode="w") as f:
        f.write(text)


def strict_json(v):
    """``v`` with NumPy values made Python ones and every non-finite float made None."""
    if isinstance(v, dict):
        return {k: strict_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [strict_json(x) for x in v]
    if isinstance(v, np.ndarray):
        return strict_json(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if v is None or isinstance(v, (str, int)):
        return v
    raise TypeError(f"not JSON-serialisable: {type(v).__name__}")


def _append_logs(history, step, logs):
    """One row of the history: every list stays as long as ``step``. A key that a model logs
    only in some phases (say, a discriminator loss only after pretraining) is NaN elsewhere."""
    history["step"].append(step)
    n = len(history["step"])
    for k, v in logs.items():
        history.setdefault(k, [math.nan] * (n - 1)).append(float(v))
    for k, v in history.items():
        if len(v) < n:
            v.append(math.nan)


def _read_history(out, upto_step):
    path = os.path.join(out, "history.json")
    if not os.path.exists(path):
        return {"step": []}
    with open(path) as f:
        h = json.load(f)
    return _history_rows(h, upto_step)


def _history_rows(h, upto_step):
    """The rows of a stored history ``h`` up to ``upto_step``, lists only, nulls as NaN."""
    if not isinstance(h.get("step", []), list):
        return {"step": []}
    keep = [i for i, s in enumerate(h.get("step", [])) if s <= upto_step]
    # null (written for NaN: see write_json) is NaN again, the placeholder of _append_logs
    return {k: [math.nan if v[i] is None else v[i] for i in keep]
            for k, v in h.items() if isinstance(v, list)}
