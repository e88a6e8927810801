"""SQLite WAL checkpoints run in a background thread, not inside a commit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from finplug._storage import EngineCache
from finplug._storage.checkpoint import FALLBACK_PAGES, WalCheckpointer, checkpointer


def _size(path: Path | str) -> int:
    """The database file's size: pages reach it only when the log is copied back."""
    return Path(path).stat().st_size


def test_commits_leave_the_checkpoint_to_the_thread(tmp_path: Path) -> None:
    engines = EngineCache()
    url = f"sqlite:///{tmp_path}/t.db"
    engine = engines.get(url)
    path = str((tmp_path / "t.db").resolve())
    assert path in checkpointer.files
    with engine.begin() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == FALLBACK_PAGES
        conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    for i in range(300):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": "x" * 500 + str(i)})
    # The thread has had its rounds, or this one does it now: the rows reach the file.
    checkpointer.mark_dirty(path)
    checkpointer.run_once()
    assert _size(path) > 300 * 500
    engines.dispose()
    assert path not in checkpointer.files


def test_a_round_checkpoints_only_dirty_files_and_reports_the_longest_log(
    tmp_path: Path,
) -> None:
    mine = WalCheckpointer(interval=60)
    files: list[str] = []
    writers = []
    for name in ("a.db", "b.db"):
        # Kept open to the end: closing the last connection would checkpoint.
        db = sqlite3.connect(tmp_path / name, isolation_level=None)
        writers.append(db)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("CREATE TABLE t (x TEXT)")
        for _ in range(50):
            db.execute("INSERT INTO t VALUES (?)", ("y" * 1000,))
        files.append(str(tmp_path / name))
    before = [_size(path) for path in files]
    assert max(before) < 50 * 1000  # the rows are in the logs only
    for path in files:
        mine.register(path)
    assert mine.run_once() == 0  # nothing committed since registration: nothing to do
    mine.mark_dirty(files[0])
    assert mine.run_once() > 50  # the log's pages, now copied back
    assert _size(files[0]) > 50 * 1000
    assert _size(files[1]) == before[1]  # not dirty: left alone
    for path in files:
        mine.forget(path)
    assert mine.files == frozenset()
    for db in writers:
        db.close()


def test_the_thread_starts_with_the_first_file_and_ends_with_the_last(tmp_path: Path) -> None:
    mine = WalCheckpointer(interval=0.01)
    path = tmp_path / "c.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x TEXT)")
        db.execute("INSERT INTO t VALUES ('z')")
    mine.register(str(path))
    thread = mine._thread
    assert thread is not None
    assert thread.is_alive()
    mine.mark_dirty(str(path))
    deadline = time.monotonic() + 10
    while mine._dirty and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not mine._dirty  # the thread took its round
    mine.forget(str(path))
    thread.join(timeout=10)
    assert not thread.is_alive()
