"""Reading a config or secret file: a regular file only, never read past its cap."""

from __future__ import annotations

import os
import stat

__all__ = ["NotRegularFileError", "TooLargeError", "read_regular_file"]


class NotRegularFileError(Exception):
    """The path names a directory, device, pipe or socket; ``kind`` says which, for messages."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class TooLargeError(Exception):
    """The file holds more bytes than its cap."""


def _file_kind(mode: int) -> str | None:
    """What a non-regular file is, for messages; ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)  # Windows: no newline translation
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after the check must not block open()
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_CHUNK = 64 * 1024


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``, reading at most ``max_bytes + 1`` of them.

    Refuses anything but a regular file before opening it (so a device is
    never opened) and again on the open descriptor (so a file swapped in
    between is caught too). Raises :class:`NotRegularFileError`,
    :class:`TooLargeError`, :class:`OSError` or :class:`ValueError` (a path
    with a NUL character).
    """
    kind = _file_kind(os.stat(path).st_mode)
    if kind is not None:
        raise NotRegularFileError(kind)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        kind = _file_kind(info.st_mode)
        if kind is not None:
            raise NotRegularFileError(kind)
        if info.st_size > max_bytes:
            raise TooLargeError
        chunks: list[bytes] = []
        left = max_bytes + 1  # sizes can lie (/proc files say 0): read one byte past the cap
        while left > 0:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        raise TooLargeError
    return b"".join(chunks)
