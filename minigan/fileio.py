"""Files written whole or not at all, with the user's permissions.

Every file minigan writes (checkpoints, run JSON, samples, a feature net, a downloaded MNIST
file) goes to a temporary file beside its target and is renamed onto it once complete: a kill
or a full disk never leaves a half-written file under the real name. ``tempfile.mkstemp``
makes that file private (0600); :func:`chmod_as_open` gives it the mode a plain ``open()``
would have (0666 less the umask), so a run's files are the user's ordinary files.
This module imports nothing else from minigan: data, features, train and the CLI all use it.
"""
from __future__ import annotations

import contextlib
import os
import tempfile


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc), else by
    setting and restoring it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0666 less the umask."""
    return 0o666 & ~_umask()


def chmod_as_open(fd):
    """Give the file of descriptor ``fd`` (made by mkstemp: 0600) the mode of :func:`file_mode`."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, file_mode())


@contextlib.contextmanager
def atomic_file(path, prefix=".tmp-", suffix="", mode="wb", sync=False):
    """Yield a file open on a temporary file beside ``path``; when the block ends without an
    error, rename it onto ``path`` (atomic on POSIX and Windows). On any error (or Ctrl-C)
    the temporary file is removed and ``path`` is left as it was. ``sync``: flush to disk
    before the rename (for checkpoints, which a crash must not leave empty)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix,
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        chmod_as_open(fd)
        with os.fdopen(fd, mode) as f:
            yield f
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
