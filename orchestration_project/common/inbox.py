"""Inbox folders that sensors watch: a file is found where this run or an earlier attempt of it
left it, and is filed away into ``processed/`` or ``rejected/`` (with the reason beside it)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

FILED = ("processed", "rejected")


def locate(file: Path) -> Path | None:
    """The file, or where an earlier attempt of this run moved it (``processed/``); None when
    it is in neither place."""
    for candidate in (file, file.parent / "processed" / file.name):
        if candidate.exists():
            return candidate
    return None


def file_away(path: Path, to: str, reason: str = "") -> Path:
    """Move ``path`` into ``<its folder>/<to>/``, with ``<name>.reason.txt`` beside it when a
    reason is given; a name already there gets a millisecond suffix. A file already filed
    away (an earlier attempt moved it) stays where it is.

    Returns:
        Where the file is now.
    """
    if path.parent.name in FILED:
        return path
    folder = path.parent / to
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{int(time.time() * 1000)}{path.suffix}"
    shutil.move(str(path), target)
    if reason:
        (folder / f"{target.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target


def file_key(path: Path) -> str:
    """A file's run key: its name and a hash of its content (the same file, dropped again or
    seen again after a restart, never starts a second run)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
    return f"{path.name}:{digest}"


def scan(
    paths: Iterable[Path], seen: dict[str, str], *, limit: int | None = None
) -> tuple[dict[str, str], list[tuple[Path, str]]]:
    """The files of an inbox against a sensor's cursor ``seen`` (``name|size|mtime`` -> key):
    an unchanged file is not hashed again, and a file already in ``seen`` was requested
    before (its run may still be queued), so it is never new again.

    Args:
        paths: the inbox's files.
        seen: the cursor of the last tick.
        limit: at most this many new files; the rest wait for the next tick.

    Returns:
        ``current`` (every file kept this tick, stamp -> key) and the new ``(path, key)``.
    """
    current: dict[str, str] = {}
    new: list[tuple[Path, str]] = []
    for path in paths:
        stat = path.stat()
        stamp = f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}"
        if stamp in seen:
            current[stamp] = seen[stamp]
        elif limit is None or len(new) < limit:
            current[stamp] = file_key(path)
            new.append((path, current[stamp]))
    return current, new


def cursor(seen: dict[str, str], current: dict[str, str], *, keep: int = 2000) -> str:
    """The next cursor: what is in the inbox now plus the newest ``keep`` of the rest."""
    return json.dumps({**dict(list(seen.items())[-keep:]), **current})


__all__ = ["FILED", "cursor", "file_away", "file_key", "locate", "scan"]
