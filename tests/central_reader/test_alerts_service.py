"""Alerts through a real gRPC server on both stores: raise, stream, ack, ladder, reading."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from ecgnet.v1 import alerts_pb2, reading_pb2, reading_pb2_grpc

from central_reader import serde
from central_reader.alerts.config import load_config
from central_reader.alerts.service import alert_id_for
from central_reader.alerts.store import AlertEventKind
from central_reader.errors import ConfigError
from central_reader.store.base import ReadingStore
from central_reader.types import Priority
from tests.central_reader.alerts_support import (
    ALERTS_TOML,
    AlertCentral,
    alert_config,
    start_alert_central,
)
from tests.central_reader.factories import finding, submit_request

K = alerts_pb2


@pytest.fixture
def ac(store: ReadingStore) -> Iterator[AlertCentral]:
    c = start_alert_central(store)
    yield c
    c.close()


def _stemi(c: AlertCentral, **kw: object) -> str:
    req = submit_request(priority=Priority.CRITICAL, codes=("STEMI",), **kw)  # type: ignore[arg-type]
    resp = c.ingest.Submit(req, metadata=c.md("device-a"))
    assert not resp.duplicate, f"{resp}"
    return req.record_id


def test_stemi_alert_reaches_the_hospital_with_the_ecg(ac: AlertCentral) -> None:
    sub = ac.subscribe("hospital-a", "cpc-a")
    routine = submit_request(priority=Priority.ROUTINE)
    ac.ingest.Submit(routine, metadata=ac.md("device-a"))
    warning_stemi = submit_request(priority=Priority.WARNING, codes=("STEMI",))
    ac.ingest.Submit(warning_stemi, metadata=ac.md("device-a"))
    record_id = _stemi(ac, patient_id="p-777")
    ev = sub.next()
    a = ev.alert
    assert ev.kind == K.ALERT_EVENT_KIND_RAISED and ev.is_new, f"{ev.kind} {ev.is_new}"
    assert a.record_id == record_id, f"alert for {a.record_id}, expected {record_id}"
    assert a.alert_id == alert_id_for(record_id), a.alert_id
    assert a.site_id == "site-a1" and a.patient.pseudo_id == "p-777", (
        f"{a.site_id} {a.patient}"
    )
    assert list(a.alert_codes) == ["STEMI"], f"{a.alert_codes}"
    assert [f.code for f in a.findings] == ["STEMI"], f"{a.findings}"
    assert a.hospital_id == "cpc-a" and a.backup_hospital_id == "oncall-a", f"{a}"
    assert a.waveform.n_samples == 1000 and len(a.waveform.leads) == 12, (
        f"{a.waveform.leads}"
    )
    assert serde.timestamp_to_datetime(a.acquired_at) == serde.timestamp_to_datetime(
        routine.acquired_at
    ), "acquisition time lost"
    assert sub.drain() == [], "routine/warning records must not alert"
    # the second hospital stream of the same desk gets it as 'raised' too (not delivered)
    assert ac.alerts.store.get(a.alert_id).first_sent_at is not None, (
        "first send not stamped"
    )


def test_alert_is_stored_before_the_ingest_ack(ac: AlertCentral) -> None:
    record_id = _stemi(ac)
    alert = ac.alerts.store.for_record(record_id)
    assert alert is not None, "Submit returned before the alert was stored"
    kinds = [e.kind for e in ac.alerts.store.events(alert.alert_id)]
    assert kinds == [AlertEventKind.RAISED], f"{kinds}"


def test_reconnect_replays_unacked_not_twice_new_and_ack_stops_it(ac: AlertCentral) -> None:
    record_id = _stemi(ac)
    first = ac.subscribe("hospital-a", "cpc-a")
    ev = first.next()
    assert ev.is_new and ev.kind == K.ALERT_EVENT_KIND_RAISED, f"{ev.kind}"
    # a stream that got it but whose desk never confirmed: still new on reconnect
    first.cancel()
    again = ac.subscribe("hospital-a", "cpc-a")
    ev = again.next()
    assert ev.is_new, "undisplayed alert must stay new"
    resp = ac.stub.ConfirmDelivery(
        K.ConfirmDeliveryRequest(alert_id=ev.alert.alert_id, hospital_id="cpc-a"),
        metadata=ac.md("hospital-a"),
    )
    assert resp.first, "first delivery confirmation not recorded"
    again.cancel()
    third = ac.subscribe("hospital-a", "cpc-a")
    ev = third.next()
    assert ev.kind == K.ALERT_EVENT_KIND_UNACKNOWLEDGED and not ev.is_new, (
        f"{ev.kind} {ev.is_new}"
    )
    assert ev.alert.record_id == record_id
    ack = ac.stub.Acknowledge(
        K.AcknowledgeAlertRequest(
            alert_id=ev.alert.alert_id, hospital_id="cpc-a", who="Nurse Li"
        ),
        metadata=ac.md("hospital-a"),
    )
    assert ack.first and ack.alert.acknowledged, f"{ack}"
    assert ack.alert.acknowledged_by == "Nurse Li (hosp-a)", ack.alert.acknowledged_by
    upd = third.next()
    assert upd.kind == K.ALERT_EVENT_KIND_ACKNOWLEDGED, f"{upd.kind}"
    again2 = ac.stub.Acknowledge(
        K.AcknowledgeAlertRequest(alert_id=ev.alert.alert_id, hospital_id="cpc-a", who="X"),
        metadata=ac.md("hospital-a"),
    )
    assert not again2.first and again2.alert.acknowledged_by == "Nurse Li (hosp-a)"
    fourth = ac.subscribe("hospital-a", "cpc-a")
    assert fourth.drain(0.5) == [], "acknowledged alert replayed"


def test_escalation_ladder_resend_then_backup(store: ReadingStore) -> None:
    c = start_alert_central(store, config=alert_config(resend_s=60, escalate_s=180))
    try:
        primary = c.subscribe("hospital-a", "cpc-a")
        backup = c.subscribe("hospital-a", "oncall-a")
        _stemi(c)
        raised = primary.next()
        assert c.alerts.tick() == 0, "nothing is due yet"
        c.clock.advance(61)
        assert c.alerts.tick() == 1, "re-send step not taken"
        ev = primary.next()
        assert ev.kind == K.ALERT_EVENT_KIND_RESENT and ev.alert.escalation_level == 1
        assert backup.drain(0.3) == [], "backup saw the alert before escalation"
        c.clock.advance(120)
        assert c.alerts.tick() == 1 and c.alerts.tick() == 0, "step taken twice"
        bev = backup.next()
        assert bev.kind == K.ALERT_EVENT_KIND_ESCALATED and bev.is_new, f"{bev.kind}"
        assert bev.alert.alert_id == raised.alert.alert_id
        pev = primary.next()
        assert pev.kind == K.ALERT_EVENT_KIND_ESCALATED and pev.alert.escalation_level == 2
        c.stub.Acknowledge(
            K.AcknowledgeAlertRequest(alert_id=bev.alert.alert_id, hospital_id="oncall-a"),
            metadata=c.md("hospital-a"),
        )
        primary.drain(0.3)  # the stream stamps a send once gRPC asks for the next item
        events = c.alerts.store.events(bev.alert.alert_id)
        steps = [(e.kind.value, e.hospital_id) for e in events if e.kind.value != "sent"]
        assert steps == [
            ("raised", "cpc-a"),
            ("resent", "cpc-a"),
            ("escalated", "oncall-a"),
            ("acknowledged", "oncall-a"),
        ], steps
        sent = sorted(e.hospital_id for e in events if e.kind.value == "sent")
        assert sent == ["cpc-a", "oncall-a"], f"sends recorded: {sent}"
        alert = c.alerts.store.get(bev.alert.alert_id)
        assert alert is not None and alert.acked_hospital_id == "oncall-a", f"{alert}"
        c.clock.advance(600)
        assert c.alerts.tick() == 0, "acknowledged alert escalated"
    finally:
        c.close()


def _sign(c: AlertCentral, record_id: str, codes: tuple[str, ...]) -> None:
    reading = reading_pb2_grpc.ReadingStub(c.channel)  # type: ignore[no-untyped-call]
    reading.Claim(reading_pb2.ClaimRequest(record_id=record_id), metadata=c.md("reader-a"))
    reading.SignReport(
        reading_pb2.SignReportRequest(
            record_id=record_id,
            findings=[serde.finding_to_proto(finding(code)) for code in codes],
            conclusion="read",
        ),
        metadata=c.md("reader-a"),
    )


def test_reading_confirms_or_cancels_and_the_hospital_sees_it(ac: AlertCentral) -> None:
    sub = ac.subscribe("hospital-a", "cpc-a", omit_waveform=True)
    yes, no = _stemi(ac), _stemi(ac, seed=1)
    got = {sub.next().alert.record_id, sub.next().alert.record_id}
    assert got == {yes, no}, f"{got}"
    ac.clock.advance(240)
    _sign(ac, yes, ("STEMI",))
    ev = sub.next()
    assert ev.kind == K.ALERT_EVENT_KIND_CONFIRMED and ev.alert.record_id == yes, f"{ev}"
    assert ev.alert.reading == K.ALERT_READING_CONFIRMED
    assert not ev.alert.HasField("waveform"), "omit_waveform ignored"
    _sign(ac, no, ("NORMAL",))
    ev = sub.next()
    assert ev.kind == K.ALERT_EVENT_KIND_CANCELLED and ev.alert.record_id == no, f"{ev}"
    alert = ac.alerts.store.for_record(yes)
    assert alert is not None and alert.reading_at is not None
    assert (alert.reading_at - alert.acquired_at).total_seconds() == 300.0, f"{alert}"
    ac.clock.advance(3600)
    assert ac.alerts.tick() == 1, "only the confirmed alert escalates (the cancelled stops)"


def test_authorization(ac: AlertCentral) -> None:
    cases = [
        ("device-a", "cpc-a", grpc.StatusCode.PERMISSION_DENIED),
        ("reader-a", "cpc-a", grpc.StatusCode.PERMISSION_DENIED),
        ("hospital-a", "cpc-b", grpc.StatusCode.PERMISSION_DENIED),
        ("admin-a", "cpc-b", grpc.StatusCode.PERMISSION_DENIED),
        ("hospital-a", "nowhere", grpc.StatusCode.NOT_FOUND),
    ]
    for who, hospital, code in cases:
        err = ac.subscribe(who, hospital).wait_error()
        assert err.code() == code, f"{who} -> {hospital}: {err.code()} (expected {code})"
    bad = ac.stub.Subscribe(K.SubscribeAlertsRequest(hospital_id="cpc-a"))
    with pytest.raises(grpc.RpcError) as info:
        next(iter(bad))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, f"{info.value.code()}"
    record_id = _stemi(ac)
    alert_id = alert_id_for(record_id)
    # the backup desk cannot acknowledge before the alert was escalated to it
    with pytest.raises(grpc.RpcError) as info:
        ac.stub.Acknowledge(
            K.AcknowledgeAlertRequest(alert_id=alert_id, hospital_id="oncall-a"),
            metadata=ac.md("hospital-a"),
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND, f"{info.value.code()}"
    admin = ac.subscribe("admin", "cpc-a")
    assert admin.next().alert.alert_id == alert_id, "global admin sees every hospital"


def test_sweep_raises_alerts_missed_by_a_crash(store: ReadingStore) -> None:
    """A record stored without its alert (crash between the commits) gets one on start."""
    plain = start_alert_central(store)
    plain.service._ingest_listeners.clear()  # the crash: the listener never ran
    req = submit_request(priority=Priority.CRITICAL, codes=("STEMI",))
    plain.ingest.Submit(req, metadata=plain.md("device-a"))
    assert plain.alerts.store.for_record(req.record_id) is None
    tokens = plain.tokens
    plain.close()
    c = start_alert_central(store, seed=False, tokens=tokens, start=True)
    try:
        alert = c.alerts.store.for_record(req.record_id)
        assert alert is not None, "start-up sweep did not raise the missing alert"
        assert alert.alert_id == alert_id_for(req.record_id)
        assert c.alerts.sweep() == 0, "second sweep raised again"
    finally:
        c.close()


def test_config_file_parses_and_rejects_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(ALERTS_TOML.format(resend=30, escalate=90), encoding="utf-8")
    cfg = load_config(path)
    assert cfg.ladder.resend_after_s == 30.0 and cfg.ladder.escalate_after_s == 90.0
    assert cfg.route("site-a1", "county-a").backup_id == "oncall-a"  # type: ignore[union-attr]
    assert cfg.route("site-a2", "county-a").backup_id is None  # type: ignore[union-attr]
    assert cfg.route("site-x", "county-z") is None
    path.write_text(
        ALERTS_TOML.format(resend=30, escalate=90).replace(
            "escalate_after_s = 90", 'escalate_after_s = 90\nfallback_hospital = "cpc-b"'
        ),
        encoding="utf-8",
    )
    fallback = load_config(path).route("site-x", "county-z")
    assert fallback is not None and fallback.hospital_id == "cpc-b", f"{fallback}"
    assert cfg.alert_codes(Priority.CRITICAL, ["AF", "STEMI"]) == ["STEMI"]
    assert cfg.alert_codes(Priority.WARNING, ["STEMI"]) == []
    for bad, needle in [
        (ALERTS_TOML.format(resend=90, escalate=30), "escalate_after_s"),
        ('[[routes]]\ncounty = "c"\nhospital = "ghost"\n', "unknown hospital"),
        ('[alerts]\nmin_priority = "urgent"\n', "min_priority"),
        ("[alerts\n", "not valid"),
    ]:
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(ConfigError, match=needle):
            load_config(path)


@pytest.mark.postgres
def test_two_instances_notify_and_the_listener_reconnects(pg_schema: str) -> None:
    """Instance B's stream (polling every 30 s) gets A's alerts through NOTIFY, also after
    B's LISTEN session is killed (the listener reconnects and B re-reads the store)."""
    import psycopg

    from central_reader.alerts.notify import PgListener
    from tests.central_reader.conftest import PG_URL, make_pg_store

    a = start_alert_central(make_pg_store(pg_schema), start=True, poll_s=30)
    b = start_alert_central(
        make_pg_store(pg_schema), seed=False, tokens=a.tokens, start=True, poll_s=30
    )
    try:
        sub = b.subscribe("hospital-a", "cpc-a", omit_waveform=True)
        time.sleep(0.3)
        first = _stemi(a)
        assert sub.next(3).alert.record_id == first, "A's alert did not reach B"
        listener = b.alerts._listener
        assert isinstance(listener, PgListener) and listener.backend_pid is not None
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (listener.backend_pid,))
        second = _stemi(a, seed=1)
        assert sub.next(5).alert.record_id == second, "lost after the LISTEN session died"
        deadline = time.monotonic() + 5
        while listener.backend_pid is None and time.monotonic() < deadline:
            time.sleep(0.05)
        third = _stemi(a, seed=2)
        t0 = time.monotonic()
        assert sub.next(3).alert.record_id == third, "no NOTIFY after the reconnect"
        assert time.monotonic() - t0 < 2.0, "delivered by polling, not NOTIFY"
    finally:
        b.close()
        a.close()
        b.service.store.close()
        a.service.store.close()


def test_desk_flags_an_alert_raised_long_after_its_ecg(ac: AlertCentral) -> None:
    """A cart offline for hours uploads a STEMI late: the desk says how old the ECG is."""
    import io

    from central_reader.alerts.cli import _Desk, event_json

    sub = ac.subscribe("hospital-a", "cpc-a")
    now = ac.clock.now
    old_id = _stemi(ac, acquired_at=now - timedelta(hours=3), patient_id="p-old")
    fresh_id = _stemi(ac, acquired_at=now - timedelta(minutes=1), patient_id="p-new")
    events = {e.alert.record_id: e for e in (sub.next(), sub.next())}
    assert set(events) == {old_id, fresh_id}, f"{list(events)}"

    def shown(ev: alerts_pb2.AlertEvent) -> str:
        out = io.StringIO()
        desk = _Desk(None, "cpc-a", (), out, as_json=False, events=False, who="t")  # type: ignore[arg-type]
        desk.numbers[ev.alert.alert_id] = 1
        desk._show(ev, "raised")
        return out.getvalue()

    old_text, fresh_text = shown(events[old_id]), shown(events[fresh_id])
    assert "LATE: this ECG was recorded 3.0 h before the alert" in old_text, old_text
    assert "LATE" not in fresh_text, fresh_text
    assert event_json(events[old_id])["recorded_before_alert_s"] == pytest.approx(10800.0)
    assert event_json(events[fresh_id])["recorded_before_alert_s"] == pytest.approx(60.0)
