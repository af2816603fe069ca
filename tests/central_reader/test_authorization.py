"""Authorization matrix: every role x every RPC through the real gRPC server; scopes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
from ecgnet.v1 import (
    ingest_pb2_grpc,
    reading_pb2,
    reading_pb2_grpc,
    reports_pb2,
    reports_pb2_grpc,
)

from central_reader.service import Action, allowed_roles
from central_reader.store.sqlite import SqliteStore
from central_reader.types import Role
from tests.central_reader.conftest import Central, start_central
from tests.central_reader.factories import Clock, submit_request

# token name -> role (all of county A; "admin" is the global admin)
CALLERS = {
    "device-a": Role.DEVICE,
    "gateway-a": Role.DEVICE,
    "reader-a": Role.CARDIOLOGIST,
    "hospital-a": Role.HOSPITAL,
    "admin-a": Role.ADMIN,
    "admin": Role.ADMIN,
}
RPCS = [
    "Submit",
    "ListQueue",
    "Claim",
    "Release",
    "GetRecord",
    "SignReport",
    "AmendReport",
    "Subscribe",
]
ACTION_OF = {
    "Submit": Action.SUBMIT,
    "ListQueue": Action.LIST_QUEUE,
    "Claim": Action.CLAIM,
    "Release": Action.RELEASE,
    "GetRecord": Action.VIEW_RECORD,
    "SignReport": Action.SIGN,
    "AmendReport": Action.AMEND,
    "Subscribe": Action.SUBSCRIBE_REPORTS,
}
# The documented matrix, written out independently of the service's table.
EXPECTED_ALLOWED = {
    "Submit": {Role.DEVICE},
    "ListQueue": {Role.CARDIOLOGIST, Role.ADMIN},
    "Claim": {Role.CARDIOLOGIST},
    "Release": {Role.CARDIOLOGIST, Role.ADMIN},
    "GetRecord": {Role.CARDIOLOGIST, Role.HOSPITAL, Role.ADMIN},
    "SignReport": {Role.CARDIOLOGIST},
    "AmendReport": {Role.CARDIOLOGIST},
    "Subscribe": set(Role),
}


def _prepare(c: Central, rpc: str, caller: str) -> Callable[[], object]:
    """Put the store in the state where ``rpc`` succeeds for an authorized caller."""
    ingest = ingest_pb2_grpc.IngestStub(c.channel)
    reading = reading_pb2_grpc.ReadingStub(c.channel)
    reports = reports_pb2_grpc.ReportsStub(c.channel)
    md = c.md(caller)
    req = submit_request(device_id="dev-a1")
    if rpc == "Submit":
        if caller == "gateway-a":
            req = submit_request(device_id="cart-1")
        return lambda: ingest.Submit(req, metadata=md, timeout=10)
    ingest.Submit(req, metadata=c.md("device-a"), timeout=10)
    rid = req.record_id
    if rpc in ("Release", "SignReport", "AmendReport", "Subscribe"):
        reading.Claim(
            reading_pb2.ClaimRequest(record_id=rid), metadata=c.md("reader-a"), timeout=10
        )
    if rpc in ("AmendReport", "Subscribe"):
        reading.SignReport(
            reading_pb2.SignReportRequest(record_id=rid, conclusion="ok"),
            metadata=c.md("reader-a"),
            timeout=10,
        )
    calls: dict[str, Callable[[], object]] = {
        "ListQueue": lambda: reading.ListQueue(
            reading_pb2.ListQueueRequest(), metadata=md, timeout=10
        ),
        "Claim": lambda: reading.Claim(
            reading_pb2.ClaimRequest(record_id=rid), metadata=md, timeout=10
        ),
        "Release": lambda: reading.Release(
            reading_pb2.ReleaseRequest(record_id=rid), metadata=md, timeout=10
        ),
        "GetRecord": lambda: reading.GetRecord(
            reading_pb2.GetRecordRequest(record_id=rid), metadata=md, timeout=10
        ),
        "SignReport": lambda: reading.SignReport(
            reading_pb2.SignReportRequest(record_id=rid, conclusion="ok"),
            metadata=md,
            timeout=10,
        ),
        "AmendReport": lambda: reading.AmendReport(
            reading_pb2.AmendReportRequest(
                record_id=rid, base_version=1, conclusion="ok2", reason="typo"
            ),
            metadata=md,
            timeout=10,
        ),
        "Subscribe": lambda: next(
            iter(
                reports.Subscribe(
                    reports_pb2.SubscribeReportsRequest(site_id="site-a1"),
                    metadata=md,
                    timeout=10,
                )
            )
        ),
    }
    return calls[rpc]


@pytest.fixture(scope="module")
def shared_central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Central]:
    """One central for the whole matrix (every case works on fresh records)."""
    store = SqliteStore(tmp_path_factory.mktemp("authz") / "central.sqlite")
    store.migrate()
    c = start_central(store, Clock())
    yield c
    c.channel.close()
    c.service.close()
    c.server.stop(0)
    store.close()


def test_service_table_matches_documented_matrix() -> None:
    for rpc, action in ACTION_OF.items():
        assert set(allowed_roles(action)) == EXPECTED_ALLOWED[rpc], f"{rpc}"


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("rpc", RPCS)
def test_matrix(shared_central: Central, rpc: str, caller: str) -> None:
    central = shared_central
    if rpc == "SignReport" and CALLERS[caller] is Role.CARDIOLOGIST:
        call = _prepare_sign(central, caller)
    else:
        call = _prepare(central, rpc, caller)
    allowed = CALLERS[caller] in EXPECTED_ALLOWED[rpc]
    if allowed:
        result = call()
        assert result is not None, f"{caller} {rpc}"
    else:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED, (
            f"{caller} {rpc}: {info.value.code()} {info.value.details()}"
        )


def _prepare_sign(c: Central, caller: str) -> Callable[[], object]:
    reading = reading_pb2_grpc.ReadingStub(c.channel)
    req = submit_request()
    ingest_pb2_grpc.IngestStub(c.channel).Submit(req, metadata=c.md("device-a"), timeout=10)
    reading.Claim(
        reading_pb2.ClaimRequest(record_id=req.record_id), metadata=c.md(caller), timeout=10
    )
    return lambda: reading.SignReport(
        reading_pb2.SignReportRequest(record_id=req.record_id, conclusion="ok"),
        metadata=c.md(caller),
        timeout=10,
    )


def test_county_isolation(central: Central) -> None:
    c = central
    ingest = ingest_pb2_grpc.IngestStub(c.channel)
    reading = reading_pb2_grpc.ReadingStub(c.channel)
    reports = reports_pb2_grpc.ReportsStub(c.channel)
    req = submit_request()
    ingest.Submit(req, metadata=c.md("device-a"), timeout=10)
    rid = req.record_id
    queue_b = reading.ListQueue(
        reading_pb2.ListQueueRequest(), metadata=c.md("reader-b"), timeout=10
    ).items
    assert list(queue_b) == [], f"county B sees county A: {queue_b}"
    queue_all = reading.ListQueue(
        reading_pb2.ListQueueRequest(), metadata=c.md("admin"), timeout=10
    ).items
    assert [i.record_id for i in queue_all] == [rid], "global admin misses a county"
    for call in (
        lambda: reading.GetRecord(
            reading_pb2.GetRecordRequest(record_id=rid),
            metadata=c.md("reader-b"),
            timeout=10,
        ),
        lambda: reading.Claim(
            reading_pb2.ClaimRequest(record_id=rid), metadata=c.md("reader-b"), timeout=10
        ),
        lambda: reading.Claim(
            reading_pb2.ClaimRequest(), metadata=c.md("reader-b"), timeout=10
        ),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() is grpc.StatusCode.NOT_FOUND, f"{info.value}"
    with pytest.raises(grpc.RpcError) as info:
        next(
            iter(
                reports.Subscribe(
                    reports_pb2.SubscribeReportsRequest(site_id="site-a1"),
                    metadata=c.md("reader-b"),
                    timeout=10,
                )
            )
        )
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED, f"{info.value}"
    with pytest.raises(grpc.RpcError) as info:
        next(
            iter(
                reports.Subscribe(
                    reports_pb2.SubscribeReportsRequest(site_id="site-a2"),
                    metadata=c.md("device-a"),
                    timeout=10,
                )
            )
        )
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED, (
        "device read another site"
    )
    with pytest.raises(grpc.RpcError) as info:
        ingest.Submit(
            submit_request(device_id="dev-b1"), metadata=c.md("device-b"), timeout=10
        )
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED, f"{info.value}"
