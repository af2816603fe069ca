"""Ingest over a real loopback gRPC server: corrupt protobuf bodies are INVALID_ARGUMENT,
records from carts with a wrong clock are kept (flagged), never refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from ecgnet.v1 import ingest_pb2, ingest_pb2_grpc, reading_pb2, reports_pb2

from central_reader.service import CLOCK_SKEW_CODE
from tests.central_reader.conftest import Central
from tests.central_reader.factories import submit_request


def _raw(central: Central, method: str, body: bytes, who: str | None = "device-a",
         *, stream: bool = False) -> grpc.RpcError:
    """Send ``body`` as-is (no client-side serializer) and return the call's error."""
    md = central.md(who) if who else ()
    if stream:
        call = central.channel.unary_stream(method)
        with pytest.raises(grpc.RpcError) as info:
            list(call(body, metadata=md, timeout=10))
    else:
        unary = central.channel.unary_unary(method)
        with pytest.raises(grpc.RpcError) as info:
            unary(body, metadata=md, timeout=10)
    err = info.value
    assert isinstance(err, grpc.Call)
    return err  # type: ignore[return-value]


def test_corrupt_protobuf_bodies_are_invalid_argument(central: Central) -> None:
    valid = submit_request().SerializeToString()
    bodies = {
        "garbage": b"\xff\xff\xff\xff\x0f\x00",
        "truncated": valid[: len(valid) // 2],
        # field 1 (record_id, a proto3 string) holding invalid UTF-8
        "bad utf-8": b"\x0a\x02\xff\xfe" + valid[40:],
        "lying length": b"\x0a\xff\xff\xff\x7f" + b"x" * 10,
    }
    for what, body in bodies.items():
        err = _raw(central, "/ecgnet.v1.Ingest/Submit", body)
        assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, f"{what}: {err}"
        detail = err.details() or ""
        assert "ecgnet.v1.SubmitRecordRequest" in detail, f"{what}: {detail}"
        assert "DecodeError" in detail or "Error" in detail, f"{what}: {detail}"
    # other unary and streaming methods, same answer
    err = _raw(central, "/ecgnet.v1.Reading/ListQueue", b"\xff\xff", "reader-a")
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, f"{err}"
    assert "ecgnet.v1.ListQueueRequest" in (err.details() or ""), f"{err.details()}"
    err = _raw(central, "/ecgnet.v1.Reports/Subscribe", b"\xff\xff", "device-a",
               stream=True)
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, f"{err}"
    # authentication first: no token -> UNAUTHENTICATED even with a corrupt body
    err = _raw(central, "/ecgnet.v1.Ingest/Submit", b"\xff\xff", None)
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED, f"{err}"
    # and the service still serves valid calls, through the same guard
    ok = ingest_pb2_grpc.IngestStub(central.channel).Submit(
        submit_request(), metadata=central.md("device-a"), timeout=10)
    assert ok.record_id and not ok.duplicate, f"{ok}"
    assert reading_pb2 and reports_pb2  # the request types named above exist


@pytest.mark.parametrize("offset", [timedelta(days=2), timedelta(minutes=11)])
def test_cart_clock_ahead_is_accepted_with_the_receive_time_and_flagged(
    central: Central, offset: timedelta
) -> None:
    stub = ingest_pb2_grpc.IngestStub(central.channel)
    now = central.clock()
    reported = now + offset
    req = submit_request(acquired_at=reported, codes=("SINUS",))
    first = stub.Submit(req, metadata=central.md("device-a"), timeout=10)
    assert not first.duplicate, f"{first}"
    rec = central.service.store.get_record(req.record_id, now)
    assert rec is not None, "future-dated record not stored"
    assert rec.entry.acquired_at == now == rec.entry.received_at, f"{rec.entry}"
    flags = [f for f in rec.entry.findings if f.code == CLOCK_SKEW_CODE]
    assert len(flags) == 1, f"{rec.entry.findings}"
    assert reported.isoformat() in flags[0].detail and "ahead" in flags[0].detail, flags
    assert [f.code for f in rec.entry.findings] == ["SINUS", CLOCK_SKEW_CODE]
    # a retry of the same submission (the cart lost the ack) is a duplicate, not a clash
    central.clock.advance(30)
    again = stub.Submit(req, metadata=central.md("device-a"), timeout=10)
    assert again.duplicate and again.received_at == first.received_at, f"{again}"


def test_cart_clock_reset_to_1970_is_accepted_flagged(central: Central) -> None:
    stub = ingest_pb2_grpc.IngestStub(central.channel)
    req = submit_request(acquired_at=datetime(1970, 1, 1, tzinfo=UTC))
    stub.Submit(req, metadata=central.md("device-a"), timeout=10)
    rec = central.service.store.get_record(req.record_id, central.clock())
    assert rec is not None and rec.entry.acquired_at == central.clock(), f"{rec}"
    flag = next(f for f in rec.entry.findings if f.code == CLOCK_SKEW_CODE)
    assert "1970-01-01" in flag.detail and "behind" in flag.detail, flag


def test_plausible_times_are_untouched(central: Central) -> None:
    stub = ingest_pb2_grpc.IngestStub(central.channel)
    now = central.clock()
    for when in (now + timedelta(minutes=9), now - timedelta(days=400)):
        req = submit_request(acquired_at=when)
        stub.Submit(req, metadata=central.md("device-a"), timeout=10)
        rec = central.service.store.get_record(req.record_id, now)
        assert rec is not None and rec.entry.acquired_at == when, f"{rec}"
        assert not [f for f in rec.entry.findings if f.code == CLOCK_SKEW_CODE]


def test_submit_request_type_is_what_the_guard_names() -> None:
    assert ingest_pb2.SubmitRecordRequest.DESCRIPTOR.full_name == (
        "ecgnet.v1.SubmitRecordRequest")
