"""Write files so that readers see either the old content or the new, never half of it."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename.

    A symbolic link is written through (the file it names is replaced, the link stays); a path
    that is not a regular file (``/dev/null``, a FIFO) is written to directly: renaming a file over
    a device would replace the device.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if _is_special(path):
        with open(path, "wb") as handle:
            handle.write(payload)
        return
    with _temporary_beside(path) as fd, os.fdopen(fd, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_text_writer(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A UTF-8 text stream that becomes ``path`` only when the ``with`` block completes.

    For output written as it is produced (streamed reports): the text goes to a temporary file in
    the same directory, renamed over ``path`` at the end; if the block raises (an error, Ctrl-C)
    the temporary file is removed and ``path`` is left as it was. Links and special files as in
    :func:`write_atomic`.
    """
    if _is_special(path):
        with open(path, "w", encoding="utf-8", newline="") as direct:
            yield direct
        return
    with (
        _temporary_beside(path) as fd,
        os.fdopen(fd, "w", encoding="utf-8", newline="") as handle,
    ):
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def _is_special(path: str | os.PathLike[str]) -> bool:
    """An existing path that is neither a regular file nor a directory (a device, a FIFO)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextlib.contextmanager
def _temporary_beside(path: str | os.PathLike[str]) -> Iterator[int]:
    """A temporary file next to ``path`` (same file system, so the rename is atomic).

    Yields its descriptor; renamed over ``path`` when the block completes, removed if it raises.
    The result keeps the permissions of the file it replaces, or gets the umask's for a new file
    (not ``mkstemp``'s private 0600).
    """
    target = Path(os.path.realpath(path))
    directory = target.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _mode_for(target))
        yield fd
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0o022)  # the only way to read it; set back at once
        os.umask(umask)
        return 0o666 & ~umask
