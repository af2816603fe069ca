"""Hostile input against a real ``ecg-central serve`` process: every RPC fuzzed.

- ``Ingest.Submit`` with hypothesis-built waveforms that lie (n_samples vs bytes, gain
  0/NaN/inf, fs out of range, zlib bombs, 10k leads, truncated/oversized samples) and
  hostile record ids (``../../x``, empty, huge, control characters);
- every method of Ingest, Reading, Reports and Alerts fed random bytes as the serialized
  request (wrong-typed / truncated protobuf) with a valid token;
- unauthenticated and wrong-role calls, a device submitting for another site, a reader of
  another county.

Each is refused with a clear status (never UNKNOWN/INTERNAL, always a detail), and
afterwards the service still serves: health SERVING and a valid submit acknowledged.
The file-format readers' fuzzing is in tests/edge_agent/test_io_fuzz.py (not repeated).
"""

from __future__ import annotations

import math
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from ecgnet.codec import WaveformError, decode_waveform
from ecgnet.v1 import (
    common_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    reading_pb2,
    reading_pb2_grpc,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile_central import HostileCentral, valid_request

#: What a refusal may say; UNKNOWN/INTERNAL would mean an unhandled crash in a servicer.
REFUSALS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.UNIMPLEMENTED,
}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileCentral]:
    c = HostileCentral(tmp_path_factory.mktemp("hostile")).start()
    yield c
    rc = c.stop()
    assert rc == 0, f"central exit status {rc} after the hostile tests: {c.log[-20:]}"


def _submit(c: HostileCentral, req: ingest_pb2.SubmitRecordRequest, who: str = "device"
            ) -> grpc.StatusCode:
    assert c.channel is not None
    stub = ingest_pb2_grpc.IngestStub(c.channel)  # type: ignore[no-untyped-call]
    try:
        stub.Submit(req, metadata=c.md(who), timeout=20)
    except grpc.RpcError as exc:
        assert isinstance(exc, grpc.Call)
        code = exc.code()
        assert code in REFUSALS, f"{code} {exc.details()!r}: not a clear refusal"
        assert exc.details(), f"{code} without a detail"
        return code
    return grpc.StatusCode.OK


def _decodes(wf: common_pb2.Waveform) -> bool:
    try:
        decode_waveform(wf)
    except (WaveformError, ValueError, zlib.error):
        return False
    return True


odd_floats = st.one_of(
    st.sampled_from([0.0, -1.0, math.nan, math.inf, -math.inf, 1e-300, 1e308, 99.9,
                     1000.1]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def hostile_waveforms(draw: st.DrawFn) -> common_pb2.Waveform:
    """A waveform whose fields are each valid or hostile, independently."""
    good = valid_request().waveform
    wf = common_pb2.Waveform()
    wf.CopyFrom(good)
    if draw(st.booleans()):
        wf.fs_hz = draw(odd_floats)
    if draw(st.booleans()):
        wf.gain_counts_per_mv = draw(odd_floats)
    if draw(st.booleans()):
        wf.n_samples = draw(st.one_of(st.sampled_from([0, 1, 999, 1001, 2**32 - 1]),
                                      st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        n = draw(st.sampled_from([0, 1, 11, 13, 16, 100]))
        wf.ClearField("leads")
        wf.leads.extend(draw(st.lists(st.text(max_size=20), min_size=n, max_size=n)))
    choice = draw(st.integers(0, 4))
    raw = zlib.decompress(good.samples) if good.compressed else good.samples
    if choice == 1:
        wf.samples = good.samples[: draw(st.integers(0, len(good.samples)))]
    elif choice == 2:
        wf.samples = draw(st.binary(max_size=4096))
    elif choice == 3:
        wf.samples = raw[: draw(st.integers(0, len(raw)))]
        wf.compressed = False
    elif choice == 4:
        wf.compressed = not wf.compressed
    return wf


@FUZZ
@given(wf=hostile_waveforms())
def test_submit_hostile_waveforms_are_refused_clearly(
    central: HostileCentral, wf: common_pb2.Waveform
) -> None:
    req = valid_request()
    req.waveform.CopyFrom(wf)
    code = _submit(central, req)
    if code is grpc.StatusCode.OK:
        assert _decodes(wf), f"the central accepted a waveform the codec refuses: {wf}"
    else:
        assert code in (grpc.StatusCode.INVALID_ARGUMENT,
                        grpc.StatusCode.RESOURCE_EXHAUSTED), f"{code} for a bad waveform"


def _case(name: str) -> common_pb2.Waveform:
    wf = common_pb2.Waveform()
    wf.CopyFrom(valid_request().waveform)
    raw = zlib.decompress(wf.samples)
    if name == "n_samples_lies_high":
        wf.n_samples = wf.n_samples * 4
    elif name == "n_samples_lies_low":
        wf.n_samples = 1
    elif name == "gain_zero":
        wf.gain_counts_per_mv = 0.0
    elif name == "gain_nan":
        wf.gain_counts_per_mv = math.nan
    elif name == "gain_inf":
        wf.gain_counts_per_mv = math.inf
    elif name == "fs_zero":
        wf.fs_hz = 0.0
    elif name == "fs_huge":
        wf.fs_hz = 1e9
    elif name == "fs_nan":
        wf.fs_hz = math.nan
    elif name == "zlib_bomb":
        # 12 leads x 15 M samples claimed; 360 MB of zeros inflating from ~350 kB.
        wf.n_samples = 15_000_000
        wf.samples = zlib.compress(b"\0" * (360 * 1024 * 1024), 9)
    elif name == "not_zlib":
        wf.samples = b"\x78\x9c" + bytes(range(256)) * 8
    elif name == "ten_thousand_leads":
        wf.ClearField("leads")
        wf.leads.extend(f"L{i}" for i in range(10_000))
        wf.n_samples = 1
        wf.samples = zlib.compress(b"\0\0" * 10_000)
    elif name == "duplicate_leads":
        wf.ClearField("leads")
        wf.leads.extend(["II"] * 12)
    elif name == "odd_byte_count":
        wf.samples = zlib.compress(raw + b"\0")
    elif name == "empty":
        wf.Clear()
    return wf


@pytest.mark.parametrize("name", [
    "n_samples_lies_high", "n_samples_lies_low", "gain_zero", "gain_nan", "gain_inf",
    "fs_zero", "fs_huge", "fs_nan", "zlib_bomb", "not_zlib", "ten_thousand_leads",
    "duplicate_leads", "odd_byte_count", "empty",
])
def test_submit_named_waveform_attacks_are_invalid_argument(
    central: HostileCentral, name: str
) -> None:
    req = valid_request()
    req.waveform.CopyFrom(_case(name))
    code = _submit(central, req)
    assert code is grpc.StatusCode.INVALID_ARGUMENT, f"{name}: {code}"


def test_oversized_message_is_resource_exhausted(central: HostileCentral) -> None:
    req = valid_request()
    req.waveform.samples = np.random.default_rng(0).bytes(40 * 1024 * 1024)
    code = _submit(central, req)
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED, f"40 MB message: {code}"
    central.assert_serving()


@pytest.mark.parametrize("record_id", [
    "../../x", "", "a" * 10_000, "x\0y", "x\ny", "%2e%2e%2fetc", "/etc/passwd",
])
def test_hostile_record_ids_are_refused(central: HostileCentral, record_id: str) -> None:
    code = _submit(central, valid_request(record_id=record_id))
    assert code is grpc.StatusCode.INVALID_ARGUMENT, f"record id {record_id[:40]!r}: {code}"
    assert central.channel is not None
    reading = reading_pb2_grpc.ReadingStub(central.channel)  # type: ignore[no-untyped-call]
    with pytest.raises(grpc.RpcError) as err:
        reading.GetRecord(reading_pb2.GetRecordRequest(record_id=record_id),
                          metadata=central.md("reader"), timeout=10)
    assert err.value.code() in (grpc.StatusCode.INVALID_ARGUMENT,  # type: ignore[attr-defined]
                                grpc.StatusCode.NOT_FOUND), f"GetRecord {record_id[:40]!r}"


METHODS = [
    ("/ecgnet.v1.Ingest/Submit", False),
    ("/ecgnet.v1.Reading/ListQueue", False),
    ("/ecgnet.v1.Reading/Claim", False),
    ("/ecgnet.v1.Reading/Release", False),
    ("/ecgnet.v1.Reading/GetRecord", False),
    ("/ecgnet.v1.Reading/SignReport", False),
    ("/ecgnet.v1.Reading/AmendReport", False),
    ("/ecgnet.v1.Reports/Subscribe", True),
    ("/ecgnet.v1.Alerts/Subscribe", True),
    ("/ecgnet.v1.Alerts/ConfirmDelivery", False),
    ("/ecgnet.v1.Alerts/Acknowledge", False),
]


def _raw_call(c: HostileCentral, method: str, stream: bool, body: bytes, who: str
              ) -> grpc.StatusCode:
    assert c.channel is not None
    try:
        if stream:
            call = c.channel.unary_stream(method)(body, metadata=c.md(who), timeout=1.5)
            for _ in call:
                pass
        else:
            c.channel.unary_unary(method)(body, metadata=c.md(who), timeout=10)
    except grpc.RpcError as exc:
        assert isinstance(exc, grpc.Call)
        code = exc.code()
        if stream and code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return code  # a well-formed subscription that simply stayed open
        assert code in REFUSALS, f"{method}: {code} {exc.details()!r}"
        assert exc.details(), f"{method}: {code} without detail"
        return code
    return grpc.StatusCode.OK


@FUZZ
@given(
    idx=st.integers(0, len(METHODS) - 1),
    body=st.one_of(st.binary(max_size=2048),
                   st.sampled_from([b"\xff" * 64, b"\x0a\xff\xff\xff\xff\x0f",
                                    b"\x12\x05ab"])),
    who=st.sampled_from(["device", "reader", "hospital", "admin"]),
)
def test_every_rpc_survives_garbage_bodies(
    central: HostileCentral, idx: int, body: bytes, who: str
) -> None:
    method, stream = METHODS[idx]
    _raw_call(central, method, stream, body, who)


@pytest.mark.parametrize(("method", "stream"), METHODS)
def test_every_rpc_refuses_unauthenticated(
    central: HostileCentral, method: str, stream: bool
) -> None:
    assert central.channel is not None
    for md in ((), (("authorization", "Bearer ecgt_000000000000_forged"),),
               (("authorization", "Basic dXNlcjpwdw=="),)):
        with pytest.raises(grpc.RpcError) as err:
            if stream:
                for _ in central.channel.unary_stream(method)(b"", metadata=md, timeout=5):
                    pass
            else:
                central.channel.unary_unary(method)(b"", metadata=md, timeout=5)
        code = err.value.code()  # type: ignore[attr-defined]
        assert code in (grpc.StatusCode.UNAUTHENTICATED,
                        grpc.StatusCode.UNIMPLEMENTED), f"{method} with {md}: {code}"


def test_wrong_roles_and_wrong_site_are_refused(central: HostileCentral) -> None:
    assert central.channel is not None
    reading = reading_pb2_grpc.ReadingStub(central.channel)  # type: ignore[no-untyped-call]
    denied = grpc.StatusCode.PERMISSION_DENIED
    # A reader or a hospital cannot submit; a device cannot read the queue or claim.
    for who in ("reader", "hospital"):
        assert _submit(central, valid_request(), who) is denied, f"{who} submitted"
    for who in ("device", "hospital"):
        with pytest.raises(grpc.RpcError) as err:
            reading.ListQueue(reading_pb2.ListQueueRequest(limit=10),
                              metadata=central.md(who), timeout=10)
        assert err.value.code() is denied, f"{who} listed the queue"  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as err:
            reading.Claim(reading_pb2.ClaimRequest(), metadata=central.md(who), timeout=10)
        assert err.value.code() is denied, f"{who} claimed"  # type: ignore[attr-defined]
    # A device bound to site-a1 submitting for site-a2 (same county) or site-b1.
    for site in ("site-a2", "site-b1", "site-zz"):
        req = valid_request()
        req.site_id = site
        code = _submit(central, req)
        assert code in (denied, grpc.StatusCode.INVALID_ARGUMENT,
                        grpc.StatusCode.NOT_FOUND), f"device of site-a1 -> {site}: {code}"
        assert code is not grpc.StatusCode.OK
    # A record of county A is invisible to a cardiologist of county B.
    req = valid_request()
    assert _submit(central, req) is grpc.StatusCode.OK
    rid = req.record_id
    for call, r in ((reading.GetRecord, reading_pb2.GetRecordRequest(record_id=rid)),
                    (reading.Claim, reading_pb2.ClaimRequest(record_id=rid))):
        with pytest.raises(grpc.RpcError) as err:
            call(r, metadata=central.md("reader-b"), timeout=10)
        assert err.value.code() in (denied, grpc.StatusCode.NOT_FOUND), (  # type: ignore[attr-defined]
            f"county-B reader reached a county-A record: {err.value}")
    queue = reading.ListQueue(reading_pb2.ListQueueRequest(limit=1000),
                              metadata=central.md("reader-b"), timeout=10)
    assert req.record_id not in {i.record_id for i in queue.items}, "county leak in queue"


def test_same_id_different_content_is_already_exists(central: HostileCentral) -> None:
    rid = str(uuid.uuid4())
    first = valid_request(rid)
    assert _submit(central, first) is grpc.StatusCode.OK
    assert _submit(central, first) is grpc.StatusCode.OK  # idempotent replay
    other = valid_request(rid, n=1500)
    assert _submit(central, other) is grpc.StatusCode.ALREADY_EXISTS


def test_still_serving_after_everything(central: HostileCentral) -> None:
    central.assert_serving()
    log = central.log
    crashes = [x for x in log if "Exception calling application" in x]
    assert not crashes, f"a servicer raised: {crashes}"
    tracebacks = sum("Traceback" in x for x in log)
    decode = sum("DecodeError" in x for x in log)
    tail = "\n".join(log[-60:])
    assert tracebacks == decode, f"tracebacks other than grpcio's DecodeError:\n{tail}"


def test_unused_path_guard() -> None:
    # The module's helper must reject a refusal code it does not know (the test can fail).
    assert grpc.StatusCode.INTERNAL not in REFUSALS
    assert Path(__file__).name.startswith("test_hostile_")
