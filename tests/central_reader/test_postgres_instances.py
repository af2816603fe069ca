"""Two ``ecg-central serve`` processes on one PostgreSQL database claim concurrently."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import grpc
import pytest
from ecgnet.v1 import reading_pb2, reading_pb2_grpc

from central_reader.service import ReadingService
from central_reader.types import Priority, Role
from tests.central_reader.conftest import PG_URL, make_pg_store
from tests.central_reader.factories import new_record
from tests.central_reader.serve_proc import ServeProcess

pytestmark = pytest.mark.postgres

N_RECORDS = 60
N_READERS = 6


def test_two_instances_never_hand_out_a_record_twice(pg_schema: str) -> None:
    store = make_pg_store(pg_schema)
    service = ReadingService(store)
    store.add_county("county-a", "A")
    store.add_site("site-a1", "county-a", "A1")
    tokens = []
    for i in range(N_READERS):
        service.create_user(
            f"dr-{i}", role=Role.CARDIOLOGIST, name=f"Dr {i}", county_id="county-a"
        )
        tokens.append(service.issue_token(f"dr-{i}")[1])
    now = datetime.now(UTC)
    ids = []
    for i in range(N_RECORDS):
        rec = new_record(
            priority=list(Priority)[i % 4], acquired_at=now - timedelta(minutes=i), seed=i
        )
        store.insert_record(
            rec,
            county_id="county-a",
            tier=i % 4,
            deadline=now + timedelta(minutes=i),
            received_at=now,
        )
        ids.append(rec.record_id)
    store.close()

    db = f"{PG_URL}?options={quote(f'-csearch_path={pg_schema}')}"
    servers = [ServeProcess(db), ServeProcess(db)]
    try:
        for s in servers:
            s.wait_ready()
        claimed: list[tuple[str, str]] = []
        race_wins: Counter[str] = Counter()
        lock = threading.Lock()
        barrier = threading.Barrier(N_READERS)
        errors: list[str] = []

        def reader(i: int) -> None:
            server = servers[i % 2]
            md = (("authorization", f"Bearer {tokens[i]}"),)
            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = reading_pb2_grpc.ReadingStub(channel)
                barrier.wait()
                while True:
                    try:
                        item = stub.Claim(
                            reading_pb2.ClaimRequest(lease_seconds=600),
                            metadata=md,
                            timeout=30,
                        ).item
                    except grpc.RpcError as exc:
                        if exc.code() is not grpc.StatusCode.NOT_FOUND:
                            errors.append(f"{exc.code()} {exc.details()}")
                        break
                    with lock:
                        claimed.append((item.record_id, f"dr-{i}"))
                # every reader also races for one fixed record that is already taken
                try:
                    stub.Claim(
                        reading_pb2.ClaimRequest(record_id=ids[0]), metadata=md, timeout=30
                    )
                    with lock:
                        race_wins[f"dr-{i}"] += 1
                except grpc.RpcError as exc:
                    if exc.code() is not grpc.StatusCode.FAILED_PRECONDITION:
                        errors.append(f"race: {exc.code()} {exc.details()}")

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(N_READERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        codes = [s.stop() for s in servers]
    assert not errors, f"{errors}"
    assert codes == [0, 0], f"{codes}"
    got = Counter(rid for rid, _ in claimed)
    doubles = {rid: n for rid, n in got.items() if n > 1}
    assert not doubles, f"records handed out twice: {doubles}"
    assert set(got) == set(ids), f"{len(got)} of {N_RECORDS} records claimed"
    holders = dict(claimed)
    # the fixed record can only be (re)claimed by the reader who already holds it
    assert set(race_wins) <= {holders[ids[0]]}, f"{race_wins} vs holder {holders[ids[0]]}"
    per_instance = Counter(int(who.split("-")[1]) % 2 for _, who in claimed)
    assert min(per_instance.values()) > 0, f"one instance claimed nothing: {per_instance}"
    check = make_pg_store(pg_schema)
    try:
        for rid, who in claimed:
            detail = check.get_record(rid, datetime.now(UTC))
            assert detail is not None and detail.entry.claimed_by == who, f"{rid}: {detail}"
    finally:
        check.close()
