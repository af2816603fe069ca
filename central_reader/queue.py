"""Reading urgency: tiers and deadlines (pure; no I/O).

Queue order is the priority tier, then the time left to the reading deadline (earliest
deadline first), then arrival. The deadline runs from acquisition, not arrival, because the
chest-pain-centre clock (ECG to diagnosis <= 10 min) starts when the ECG is taken: a record
that sat in a township outbox through a network outage arrives already late and goes to the
front of its tier, flagged overdue. An acquisition time in the future (a cart clock running
fast) is clamped to the arrival time, and so is one more than ``OUTBOX_WAIT_LIMIT`` (7 days)
before arrival: no outage keeps a record in a township outbox that long, so it is an archive
import or a cart clock set back years (the demo's CPSC 2018 and CinC 2017 samples carry
their 2020 and 2000 file dates) - ranking it as "overdue by 9,703 days" would put it ahead
of every real wait in its tier. Its acquisition time itself is kept and shown.

Unreadable records (the edge could not analyse the signal: noise, lead off) rank after
warning and before routine, with the warning deadline by default: a reader must look soon,
while the patient may still be at the township to be re-recorded, but they are not known to
be urgent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from central_reader.errors import ConfigError
from edge_agent.types import Priority

__all__ = ["OUTBOX_WAIT_LIMIT", "ReadingDeadlines", "compute_deadline", "tier_of"]

#: An acquisition longer than this before arrival does not start the reading clock.
OUTBOX_WAIT_LIMIT = timedelta(days=7)

_TIER = {
    Priority.CRITICAL: 0,
    Priority.WARNING: 1,
    Priority.UNREADABLE: 2,
    Priority.ROUTINE: 3,
}


def tier_of(priority: Priority) -> int:
    """0 for the most urgent tier."""
    return _TIER[priority]


@dataclass(frozen=True, slots=True)
class ReadingDeadlines:
    """Reading time allowed per tier, in seconds."""

    critical_s: float = 600.0
    warning_s: float = 1800.0
    unreadable_s: float = 1800.0
    routine_s: float = 86400.0

    def __post_init__(self) -> None:
        values = (self.critical_s, self.warning_s, self.unreadable_s, self.routine_s)
        if any(v <= 0 for v in values):
            raise ConfigError("reading deadlines must be positive", got=f"{values}")
        if not self.critical_s <= self.warning_s <= self.routine_s:
            raise ConfigError(
                "deadlines must not loosen with urgency",
                expected="critical <= warning <= routine",
                got=f"{self.critical_s} / {self.warning_s} / {self.routine_s}",
            )

    def seconds_for(self, priority: Priority) -> float:
        """Reading time for a priority."""
        return {
            Priority.CRITICAL: self.critical_s,
            Priority.WARNING: self.warning_s,
            Priority.UNREADABLE: self.unreadable_s,
            Priority.ROUTINE: self.routine_s,
        }[priority]


def compute_deadline(
    priority: Priority,
    acquired_at: datetime,
    received_at: datetime,
    deadlines: ReadingDeadlines,
) -> datetime:
    """Reading deadline: acquisition (clamped to arrival; arrival when the acquisition is
    more than ``OUTBOX_WAIT_LIMIT`` earlier) plus the tier's reading time."""
    start = min(acquired_at, received_at)
    if start < received_at - OUTBOX_WAIT_LIMIT:
        start = received_at
    return start + timedelta(seconds=deadlines.seconds_for(priority))
