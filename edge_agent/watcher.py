"""The cart's export-folder watcher: new records are read once they stop changing.

Files taken in (or refused as malformed) are remembered in the outbox, so a restart does
not redo them; files refused because the outbox is full wait and are retried when there is
room (see :class:`FolderWatcher`).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.errors import EdgeAgentError
from edge_agent.outbox import Outbox

__all__ = ["FolderWatcher"]

logger = logging.getLogger(__name__)


def _signature(path: Path) -> str | None:
    """(size, mtime) of a record's files (a WFDB header and its data files)."""
    parts = []
    stem = path.with_suffix("")
    candidates = sorted({path, *path.parent.glob(stem.name + ".*")})
    for p in candidates:
        try:
            st = p.stat()
        except OSError:
            continue
        parts.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts) or None


@dataclass
class FolderWatcher:
    """Finds records in the cart's export folder that are new and have stopped changing.

    A file must show the same (size, mtime) signature for ``settle_s`` seconds before it
    is read, so a half-written export is never queued. Files taken in (or refused as
    malformed) are remembered in the outbox, so a restart does not redo them.

    Files refused because the outbox is full are *waiting*: they are never forgotten.
    Scans pause (a growing delay, see :meth:`outbox_full`) but a waiting file is retried
    at once when the outbox has room for it again (uploads acknowledged free it), and at
    the latest when the pause ends (a full filesystem, where the byte budget cannot tell).
    The waiting files are noted in the outbox for ``ecg-edge status``.
    """

    folder: Path
    outbox: Outbox
    settle_s: float = 1.0
    full_backoff_s: float = 0.5
    full_backoff_max_s: float = 4.0
    _pending: dict[str, tuple[str, float]] = field(default_factory=dict)
    _waiting: dict[str, tuple[Path, str, float]] = field(default_factory=dict)
    _full_streak: int = 0
    _hold_until: float = 0.0
    _need_bytes: int = 0
    _room_at_refusal: int = 0
    _noted: tuple[int, str | None] = (0, None)

    @property
    def waiting(self) -> list[str]:
        """Files refused for lack of outbox space, oldest refusal first."""
        return [k for k, _ in sorted(self._waiting.items(), key=lambda kv: kv[1][2])]

    def _note_waiting(self) -> None:
        order = self.waiting
        key = (len(order), order[0] if order else None)
        if key == self._noted:
            return
        since = min((v[2] for v in self._waiting.values()), default=None)
        wall = None if since is None else time.time() - (time.monotonic() - since)
        self.outbox.set_waiting(order, wall)
        self._noted = key

    def reset_waiting_note(self) -> None:
        """Clear a note left by a previous run (call once at start)."""
        self.outbox.set_waiting([], None)
        self._noted = (0, None)

    def outbox_full(
        self,
        now: float | None = None,
        *,
        refused: Sequence[tuple[Path, str]] = (),
        need_bytes: int = 0,
    ) -> float:
        """Note a full-outbox refusal; scans pause for a growing delay, which is returned.

        ``refused`` are the files that could not be taken in (the one refused and the rest
        of its scan); they wait, and are retried as soon as the outbox has room for
        ``need_bytes`` (0: only when the delay ends). The delay doubles from
        ``full_backoff_s`` up to ``full_backoff_max_s`` until a record is taken in again
        (:meth:`taken_in`), so a file is not re-read on every scan.
        """
        now = time.monotonic() if now is None else now
        self._full_streak += 1
        delay = min(self.full_backoff_s * 2.0 ** (self._full_streak - 1),
                    self.full_backoff_max_s)
        self._hold_until = now + delay
        self._need_bytes = need_bytes
        if need_bytes:
            try:
                self._room_at_refusal = self.outbox.room_bytes()
            except (sqlite3.Error, OSError):
                self._need_bytes = 0
        for p, sig in refused:
            prev = self._waiting.get(str(p))
            self._waiting[str(p)] = (p, sig, now if prev is None else prev[2])
        self._note_waiting()
        return delay

    def taken_in(self, path: str | Path | None = None) -> None:
        """Note a record taken in (or refused for good): the full-outbox backoff ends."""
        self._full_streak = 0
        self._hold_until = 0.0
        self._need_bytes = 0
        if path is not None and self._waiting.pop(str(path), None) is not None:
            self._note_waiting()

    def _room_again(self) -> bool:
        """Space was freed since the refusal (an ack) and the refused record fits."""
        if not self._need_bytes:
            return False
        try:
            room = self.outbox.room_bytes()
        except (sqlite3.Error, OSError):
            return False
        return room > self._room_at_refusal and room >= self._need_bytes

    def scan(self, now: float | None = None) -> list[tuple[Path, str]]:
        """Records ready to read now, each with its signature; waiting files first.

        Empty while backing off after a full outbox, unless the outbox has room again.
        """
        now = time.monotonic() if now is None else now
        if now < self._hold_until and not self._room_again():
            return []
        from edge_agent.io import iter_record_paths

        ready: list[tuple[Path, str]] = []
        retry: list[tuple[float, Path, str]] = []
        try:
            paths = iter_record_paths(self.folder)
        except (OSError, EdgeAgentError) as exc:
            logger.warning("cannot list %s: %s", self.folder, exc)
            return ready
        listed = set()
        for p in paths:
            sig = _signature(p)
            key = str(p)
            listed.add(key)
            if sig is None or self.outbox.file_seen(key, sig):
                self._pending.pop(key, None)
                self._waiting.pop(key, None)
                continue
            waited = self._waiting.get(key)
            if waited is not None:
                if waited[1] == sig:
                    retry.append((waited[2], p, sig))
                    continue
                del self._waiting[key]  # changed while waiting: let it settle again
            prev = self._pending.get(key)
            if prev is None or prev[0] != sig:
                self._pending[key] = (sig, now)
            elif now - prev[1] >= self.settle_s:
                ready.append((p, sig))
                del self._pending[key]
        for key in set(self._waiting) - listed:  # deleted from the export folder
            del self._waiting[key]
        self._note_waiting()
        return [(p, sig) for _, p, sig in sorted(retry, key=lambda t: t[0])] + ready
