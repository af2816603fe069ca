"""The ``ecgnet.v1.Alerts`` servicer: thin, over :class:`AlertService`.

Authentication and the error -> status mapping come from ``central_reader.grpc_api``
(``unary_rpc`` / ``stream_rpc``); register with ``build_server(extra_services=[...])``.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from ecgnet.v1 import alerts_pb2, alerts_pb2_grpc

from central_reader import serde
from central_reader.alerts.service import AlertService, StreamItem, StreamKind
from central_reader.alerts.store import Alert, AlertReading
from central_reader.grpc_api import ExtraService, stream_rpc, unary_rpc
from central_reader.types import Principal

__all__ = ["AlertsServicer", "alert_to_proto", "extra_service"]

SERVICE_NAME = alerts_pb2.DESCRIPTOR.services_by_name["Alerts"].full_name

_KIND = {
    StreamKind.RAISED: alerts_pb2.ALERT_EVENT_KIND_RAISED,
    StreamKind.UNACKNOWLEDGED: alerts_pb2.ALERT_EVENT_KIND_UNACKNOWLEDGED,
    StreamKind.RESENT: alerts_pb2.ALERT_EVENT_KIND_RESENT,
    StreamKind.ESCALATED: alerts_pb2.ALERT_EVENT_KIND_ESCALATED,
    StreamKind.ACKNOWLEDGED: alerts_pb2.ALERT_EVENT_KIND_ACKNOWLEDGED,
    StreamKind.CONFIRMED: alerts_pb2.ALERT_EVENT_KIND_CONFIRMED,
    StreamKind.CANCELLED: alerts_pb2.ALERT_EVENT_KIND_CANCELLED,
}
_READING = {
    AlertReading.PENDING: alerts_pb2.ALERT_READING_PENDING,
    AlertReading.CONFIRMED: alerts_pb2.ALERT_READING_CONFIRMED,
    AlertReading.CANCELLED: alerts_pb2.ALERT_READING_CANCELLED,
}


def alert_to_proto(alert: Alert, alerts: AlertService | None = None) -> alerts_pb2.Alert:
    """An alert as its wire message; with ``alerts`` given, the waveform is included."""
    msg = alerts_pb2.Alert(
        alert_id=alert.alert_id,
        record_id=alert.record_id,
        site_id=alert.site_id,
        county_id=alert.county_id,
        hospital_id=alert.hospital_id,
        backup_hospital_id=alert.backup_hospital_id or "",
        patient=serde.patient_to_proto(alert.patient),
        findings=[serde.finding_to_proto(f) for f in alert.findings],
        alert_codes=list(alert.alert_codes),
        escalation_level=alert.escalation_level,
        reading=_READING[alert.reading],
        acknowledged=alert.acked_at is not None,
        acknowledged_by=alert.acked_by or "",
    )
    for name, value in (
        ("acquired_at", alert.acquired_at),
        ("received_at", alert.received_at),
        ("raised_at", alert.raised_at),
        ("first_sent_at", alert.first_sent_at),
        ("delivered_at", alert.delivered_at),
        ("acknowledged_at", alert.acked_at),
        ("reading_at", alert.reading_at),
    ):
        if value is not None:
            getattr(msg, name).CopyFrom(serde.timestamp_from_datetime(value))
    if alerts is not None:
        wf = alerts.waveform(alert.record_id)
        if wf is not None:
            msg.waveform.CopyFrom(serde.waveform_to_proto(wf))
    return msg


def _event(item: StreamItem, alerts: AlertService | None) -> alerts_pb2.AlertEvent:
    return alerts_pb2.AlertEvent(
        kind=_KIND[item.kind],
        alert=alert_to_proto(item.alert, alerts),
        is_new=item.is_new,
        event_at=serde.timestamp_from_datetime(item.at),
    )


class AlertsServicer(alerts_pb2_grpc.AlertsServicer):
    def __init__(self, alerts: AlertService) -> None:
        self.alerts = alerts
        self.service = alerts.reading  # authentication (unary_rpc / stream_rpc)

    @stream_rpc
    def Subscribe(  # noqa: N802 - generated name
        self,
        request: alerts_pb2.SubscribeAlertsRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> Iterator[alerts_pb2.AlertEvent]:
        with_wave = None if request.omit_waveform else self.alerts
        items = self.alerts.subscribe(principal, request.hospital_id, context.is_active)
        context.send_initial_metadata(())  # authorized: the client knows it is subscribed
        for item in items:
            yield _event(item, with_wave)

    @unary_rpc
    def ConfirmDelivery(  # noqa: N802
        self,
        request: alerts_pb2.ConfirmDeliveryRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> alerts_pb2.ConfirmDeliveryResponse:
        first = self.alerts.confirm_delivery(
            principal, request.hospital_id, request.alert_id
        )
        return alerts_pb2.ConfirmDeliveryResponse(first=first)

    @unary_rpc
    def Acknowledge(  # noqa: N802
        self,
        request: alerts_pb2.AcknowledgeAlertRequest,
        context: grpc.ServicerContext,
        principal: Principal,
    ) -> alerts_pb2.AcknowledgeAlertResponse:
        alert, first = self.alerts.acknowledge(
            principal, request.hospital_id, request.alert_id, request.who
        )
        return alerts_pb2.AcknowledgeAlertResponse(alert=alert_to_proto(alert), first=first)


def extra_service(alerts: AlertService) -> ExtraService:
    """``(name, register)`` for ``build_server(extra_services=[...])``."""

    def register(server: grpc.Server) -> None:
        alerts_pb2_grpc.add_AlertsServicer_to_server(AlertsServicer(alerts), server)  # type: ignore[no-untyped-call]

    return SERVICE_NAME, register
