"""SQLite WAL checkpoints in a background thread, off the path of the transactions.

In WAL mode SQLite copies the log back into the database file (a
*checkpoint*) when the log reaches ``wal_autocheckpoint`` pages, and by
default the connection whose commit crossed that line does it, inside that
commit: about 1 ms plus 3 µs per page here, so one request in every hundred
or so pays several milliseconds. finplug moves that work to one thread per
process:

* request connections get ``PRAGMA wal_autocheckpoint`` of
  :data:`FALLBACK_PAGES` (a bound on the log should the thread fall behind);
* every commit marks its file dirty (a set insertion);
* the thread wakes when something is dirty, runs ``PRAGMA
  wal_checkpoint(PASSIVE)`` on each dirty file through a connection of its
  own (``PASSIVE`` never waits for a lock and never blocks a reader or a
  writer; the connection is closed again, so a process with many tenant
  files holds no file open for them), then lets commits gather for
  :data:`INTERVAL_S` (a fifth of that when a log held :data:`BUSY_PAGES`
  pages or more, so a busy file's log stays far below the fallback).

Under back-to-back writes a passive checkpoint never catches up with the end
of the log (frames keep arriving while it copies), so SQLite cannot restart
the log; it then grows to :data:`FALLBACK_PAGES` and the committing
connection checkpoints it, once every few thousand commits instead of every
hundred (``benchmarks/risk.py`` shows it as the maximum, not the p99).

Several processes on one file each run their checkpoints; SQLite lets one
at a time do the copying and the others return at once. The thread is a
daemon, starts when the first file is registered and ends when the last is
forgotten; after a ``fork`` the child starts its own.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from typing import Final

__all__ = ["BUSY_PAGES", "FALLBACK_PAGES", "INTERVAL_S", "WalCheckpointer", "checkpointer"]

#: Pages of log after which a committing connection checkpoints itself (the thread's fallback).
FALLBACK_PAGES: Final = 10_000
#: Seconds between the thread's rounds while files are dirty.
INTERVAL_S: Final = 0.5
#: A log this long at a round means a busy file: the next round comes sooner.
BUSY_PAGES: Final = 2_000

_log = logging.getLogger("finplug.storage")


class WalCheckpointer:
    """Checkpoints registered SQLite files that committed since the last round."""

    def __init__(self, interval: float = INTERVAL_S) -> None:
        self.interval = interval
        """Seconds between rounds while something is dirty."""
        self._lock = threading.Lock()
        self._files: dict[str, int] = {}  # path -> how many engines registered it
        self._dirty: set[str] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    @property
    def files(self) -> frozenset[str]:
        """The files registered now."""
        with self._lock:
            return frozenset(self._files)

    def register(self, path: str) -> None:
        """Checkpoint ``path`` from now on (once per engine opened on it)."""
        with self._lock:
            self._files[path] = self._files.get(path, 0) + 1
            self._ensure_thread()

    def forget(self, path: str) -> None:
        """One engine on ``path`` closed; the last one stops its checkpoints."""
        with self._lock:
            left = self._files.get(path, 0) - 1
            if left > 0:
                self._files[path] = left
                return
            self._files.pop(path, None)
            self._dirty.discard(path)
            if not self._files:
                self._wake.set()  # the thread sees nothing is left and ends

    def mark_dirty(self, path: str) -> None:
        """A transaction on ``path`` committed: checkpoint it in the next round."""
        if path not in self._dirty:
            with self._lock:
                self._dirty.add(path)
            self._wake.set()

    def run_once(self) -> int:
        """One round now: checkpoint every dirty file; the longest log met, in pages."""
        with self._lock:
            dirty = [p for p in self._dirty if p in self._files]
            self._dirty = set()
        longest = 0
        for path in dirty:
            try:
                connection = sqlite3.connect(path, timeout=0, isolation_level=None)
                try:
                    row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                finally:
                    connection.close()
                longest = max(longest, int(row[1]))
            except sqlite3.Error as exc:  # a file gone, a disk full: the fallback bounds the log
                _log.debug("checkpoint of %s skipped: %s", path, exc)
        return longest

    def _ensure_thread(self) -> None:
        """Start the thread unless it runs (called with the lock held)."""
        if self._pid != os.getpid():  # a forked child: none of the parent's state is ours
            self._pid = os.getpid()
            self._thread = None
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="finplug-wal-checkpoint", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                if not self._files:
                    self._thread = None
                    return
            longest = self.run_once()
            # Let commits gather between rounds; sooner while a file is busy.
            time.sleep(self.interval / 5 if longest >= BUSY_PAGES else self.interval)


#: The process's checkpointer, shared by every SQLite engine finplug opens.
checkpointer: Final = WalCheckpointer()
