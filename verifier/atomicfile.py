"""Write files so that readers see either the old content or the new, never half of it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with _temporary_beside(path) as fd, os.fdopen(fd, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_text_writer(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A UTF-8 text stream that becomes ``path`` only when the ``with`` block completes.

    For output written as it is produced (streamed reports): the text goes to a temporary file in
    the same directory, renamed over ``path`` at the end; if the block raises (an error, Ctrl-C)
    the temporary file is removed and ``path`` is left as it was.
    """
    with (
        _temporary_beside(path) as fd,
        os.fdopen(fd, "w", encoding="utf-8", newline="") as handle,
    ):
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def _temporary_beside(path: str | os.PathLike[str]) -> Iterator[int]:
    """A temporary file next to ``path`` (same file system, so the rename is atomic).

    Yields its descriptor; renamed over ``path`` when the block completes, removed if it raises.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        yield fd
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
