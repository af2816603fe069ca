"""Chest-pain alerts (issue 6): a suspected STEMI reaches the county hospital at once.

* :mod:`~central_reader.alerts.config` - alerting codes, site -> hospital routing, ladder
* :mod:`~central_reader.alerts.store` - alerts, their event log, delivery receipts (SQL)
* :mod:`~central_reader.alerts.service` - raise, stream, acknowledge, escalate, readings
* :mod:`~central_reader.alerts.notify` - PostgreSQL LISTEN/NOTIFY between instances
* :mod:`~central_reader.alerts.grpc_api` - the ``ecgnet.v1.Alerts`` servicer
* :mod:`~central_reader.alerts.report` - chest-pain-centre interval report
* :mod:`~central_reader.alerts.cli` - ``ecg-central alerts watch|report|show``
"""

from __future__ import annotations

from central_reader.alerts.config import AlertConfig, Hospital, Ladder, Route, load_config

__all__ = ["AlertConfig", "Hospital", "Ladder", "Route", "load_config"]
