"""Group commit for ingest: queued ``insert_record`` calls share one transaction."""

from __future__ import annotations

import queue
import threading
from datetime import datetime
from typing import TYPE_CHECKING

from central_reader.errors import ReaderError, StoreUnavailableError
from central_reader.types import IngestResult, NewRecord

if TYPE_CHECKING:
    from central_reader.store._sql import SqlStore

__all__ = ["IngestBatcher", "PendingInsert"]


class PendingInsert:
    """One ``insert_record`` call waiting for its group commit."""

    __slots__ = (
        "county_id",
        "deadline",
        "done",
        "error",
        "received_at",
        "record",
        "result",
        "tier",
    )

    def __init__(
        self,
        record: NewRecord,
        county_id: str,
        tier: int,
        deadline: datetime,
        received_at: datetime,
    ) -> None:
        self.record = record
        self.county_id = county_id
        self.tier = tier
        self.deadline = deadline
        self.received_at = received_at
        self.result: IngestResult | None = None
        self.error: Exception | None = None
        self.done = threading.Event()


class IngestBatcher:
    """A writer thread that commits queued inserts in batches (group commit).

    Callers block until the transaction holding their record has committed, so an
    acknowledgement still means "durable". A batch that fails as a whole (lock timeout,
    deadlock, lost connection) is retried one record per transaction, so one record's
    problem never fails its neighbours.
    """

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.queue: queue.SimpleQueue[PendingInsert | None] = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._run, name=f"ingest-writer-{i}", daemon=True)
            for i in range(store._ingest_writers)
        ]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join(30)

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.store._ingest_batch_max:
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[PendingInsert]) -> None:
        try:
            self.store._insert_batch(batch)
        except Exception as exc:  # noqa: BLE001 - retried one by one, then reported
            if len(batch) == 1:
                item = batch[0]
                item.result = None
                item.error = (
                    exc
                    if isinstance(exc, ReaderError)
                    else StoreUnavailableError(f"ingest commit failed: {exc}")
                )
                item.done.set()
                return
            for item in batch:
                item.result = item.error = None
                self._commit([item])
            return
        for item in batch:
            item.done.set()
