"""``core/store/safefile.py``: the StrictModes walk and the one file reader, edge by edge."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from alpaca_tui.core.hardening import LockedBuffer, memory_lock_probe
from alpaca_tui.core.store.fsutil import ensure_private_dir
from alpaca_tui.core.store.safefile import FileTooLargeError, UnsafeFileError, check_home, read_file


def test_a_home_that_does_not_exist_yet_is_checked_by_its_parents(tmp_path: Path) -> None:
    check_home(tmp_path / "a" / "b" / "home")
    (tmp_path / "open").mkdir()
    (tmp_path / "open").chmod(0o777)
    with pytest.raises(UnsafeFileError, match="the directory above it, .*open, is writable by others"):
        check_home(tmp_path / "open" / "b" / "home")


def test_missing_parents_are_made_0755_and_the_home_0700_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        ensure_private_dir(tmp_path / "x" / "y" / "home")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert (mode(tmp_path / "x"), mode(tmp_path / "x" / "y"), mode(tmp_path / "x" / "y" / "home")) == \
        (0o755, 0o755, 0o700)
    check_home(tmp_path / "x" / "y" / "home")  # and it passes its own check next time


def test_a_symlinked_home_is_judged_by_where_it_points(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    check_home(link)
    real.chmod(0o777)
    with pytest.raises(UnsafeFileError, match="writable by others"):
        check_home(link)
    real.chmod(0o700)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (shared / "home").mkdir(mode=0o700)
    link.unlink()
    link.symlink_to(shared / "home")  # the target lies in a directory others can write
    with pytest.raises(UnsafeFileError, match="shared, is writable by others"):
        check_home(link)


def test_a_file_where_the_home_should_be(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("x")
    with pytest.raises(UnsafeFileError, match="it is a regular file, not a directory"):
        check_home(tmp_path / "home")


def test_read_file_kinds_links_and_caps(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 100)
    assert read_file(f, cap=100, label="f") == b"x" * 100
    with pytest.raises(FileTooLargeError, match="100 bytes, more than the 99 bytes"):
        read_file(f, cap=99, label="f")
    assert read_file(tmp_path / "missing", cap=10, label="m") is None
    link = tmp_path / "link"
    link.symlink_to(f)
    with pytest.raises(UnsafeFileError, match="cannot read l: it is a symbolic link"):
        read_file(link, cap=100, label="l")
    assert read_file(link, cap=100, label="l", in_home=False) == b"x" * 100  # a file the user names
    with pytest.raises(UnsafeFileError, match="it is a directory, not a regular file"):
        read_file(tmp_path, cap=100, label="d", in_home=False)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link2").symlink_to(tmp_path / "fifo")
    with pytest.raises(UnsafeFileError, match="it is a FIFO"):
        read_file(tmp_path / "link2", cap=100, label="p", in_home=False)  # through a link: still checked


def test_locked_buffer_is_one_page_locked_and_released() -> None:
    with LockedBuffer(32) as buf:
        buf.view[:4] = b"abcd"
        assert bytes(buf.view[:4]) == b"abcd" and len(buf.view) == 32
        locked = buf.locked
    with pytest.raises(ValueError):
        buf.view[0]  # released: nothing reads it after close
    assert memory_lock_probe()[0] is locked
    with pytest.raises(ValueError):
        LockedBuffer(1 << 20)
