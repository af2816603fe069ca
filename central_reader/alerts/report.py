"""Chest-pain-centre interval report over the stored alerts (pure; no I/O).

The Chinese chest-pain-centre accreditation audits "first medical contact to ECG <= 10 min"
(before our system: the cart's acquisition is the ECG) and "ECG to diagnosis <= 10 min"
(here: acquisition -> first signed reading of the alert's record). We also report the
alert path itself: acquisition -> upload, acquisition -> alert raised, alert -> first
sent, alert -> acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from central_reader.alerts.store import Alert

__all__ = ["INTERVALS", "IntervalSummary", "Targets", "alert_intervals", "summarize"]

#: ``name -> (start attribute, end attribute)`` of :class:`Alert`.
INTERVALS: dict[str, tuple[str, str]] = {
    "acquisition_to_upload_s": ("acquired_at", "received_at"),
    "acquisition_to_alert_s": ("acquired_at", "raised_at"),
    "alert_to_sent_s": ("raised_at", "first_sent_at"),
    "alert_to_ack_s": ("raised_at", "acked_at"),
    "ecg_to_diagnosis_s": ("acquired_at", "reading_at"),
}


@dataclass(frozen=True, slots=True)
class Targets:
    """Targets in seconds (``ecg_to_diagnosis_s`` is the accreditation's 10 minutes)."""

    ecg_to_diagnosis_s: float = 600.0
    acquisition_to_alert_s: float = 60.0
    alert_to_ack_s: float = 300.0

    def as_dict(self) -> dict[str, float]:
        return {
            "ecg_to_diagnosis_s": self.ecg_to_diagnosis_s,
            "acquisition_to_alert_s": self.acquisition_to_alert_s,
            "alert_to_ack_s": self.alert_to_ack_s,
        }


@dataclass(frozen=True, slots=True)
class IntervalSummary:
    """One interval over all alerts (None when no alert reached the end point)."""

    name: str
    n: int
    missing: int
    median_s: float | None
    p90_s: float | None
    max_s: float | None
    target_s: float | None
    share_within_target: float | None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def alert_intervals(alert: Alert) -> dict[str, float | None]:
    """Every interval of one alert in seconds (None when not reached yet)."""
    return {
        name: _seconds(getattr(alert, a), getattr(alert, b))
        for name, (a, b) in INTERVALS.items()
    }


def summarize(alerts: Sequence[Alert], targets: Targets) -> list[IntervalSummary]:
    """Aggregate every interval; the share counts alerts with the end point reached.

    ``share_within_target`` is over all alerts (an alert not yet acknowledged or read
    counts as not meeting the target), so an open alert cannot flatter the figure.
    """
    goals = targets.as_dict()
    per_alert = [alert_intervals(a) for a in alerts]
    out = []
    for name in INTERVALS:
        values = np.array([v[name] for v in per_alert if v[name] is not None], dtype=float)
        target = goals.get(name)
        share = None
        if target is not None and alerts:
            share = float(np.count_nonzero(values <= target)) / len(alerts)
        out.append(
            IntervalSummary(
                name=name,
                n=int(values.size),
                missing=len(alerts) - int(values.size),
                median_s=float(np.median(values)) if values.size else None,
                p90_s=float(np.percentile(values, 90)) if values.size else None,
                max_s=float(values.max()) if values.size else None,
                target_s=target,
                share_within_target=share,
            )
        )
    return out
