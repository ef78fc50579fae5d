"""``write_atomic`` and ``atomic_text_writer``: all or nothing, and the right file gets written."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from verifier.atomicfile import atomic_text_writer, write_atomic


def test_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["report.json"]


def test_streamed_text_replaces_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")

    def interrupted() -> None:
        with atomic_text_writer(target) as handle:
            handle.write("half\n")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.jsonl"]
    with atomic_text_writer(target) as handle:
        handle.write("new\n")
        assert target.read_text() == "old\n"  # nothing visible before the end
    assert target.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["out.jsonl"]


def test_a_new_file_gets_the_umask_permissions_not_0600(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o640)
    with atomic_text_writer(target) as handle:
        handle.write("new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_symbolic_link_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


@pytest.mark.parametrize("streamed", [False, True])
def test_a_fifo_is_written_to_not_replaced(tmp_path: Path, streamed: bool) -> None:
    # Like -o /dev/null: renaming over a special file would replace the device itself.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    if streamed:
        with atomic_text_writer(fifo) as handle:
            handle.write("through the pipe")
    else:
        write_atomic(fifo, "through the pipe")
    reader.join(timeout=10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert os.listdir(tmp_path) == ["pipe"]
