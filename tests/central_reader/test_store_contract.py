"""One contract suite for every ReadingStore: a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from central_reader.errors import (
    ClaimConflictError,
    ConflictError,
    DuplicateRecordError,
    NotFoundError,
    VersionConflictError,
)
from central_reader.store.base import ReadingStore
from central_reader.types import (
    AuditAction,
    Principal,
    Priority,
    RecordStatus,
    ReportDraft,
    Role,
    User,
)
from tests.central_reader.factories import T0, new_record, with_content

NOW = T0 + timedelta(minutes=5)
READER = Principal("dr-a", Role.CARDIOLOGIST, "Dr A", "county-a")
READER2 = Principal("dr-a2", Role.CARDIOLOGIST, "Dr A2", "county-a")
DRAFT = ReportDraft(findings=(), free_text="", conclusion="Sinus rhythm")


def _seed(store: ReadingStore) -> None:
    store.add_county("county-a", "A")
    store.add_county("county-b", "B")
    store.add_site("site-a1", "county-a", "A1")
    store.add_site("site-b1", "county-b", "B1")


def _insert(
    store: ReadingStore,
    priority: Priority = Priority.ROUTINE,
    *,
    minutes: float = 0.0,
    deadline_min: float = 60.0,
    site: str = "site-a1",
    county: str = "county-a",
    **kw,
) -> str:  # type: ignore[no-untyped-def]
    rec = new_record(
        priority=priority, site_id=site, acquired_at=T0 + timedelta(minutes=minutes), **kw
    )
    received = T0 + timedelta(minutes=minutes)
    store.insert_record(
        rec,
        county_id=county,
        tier={"critical": 0, "warning": 1, "unreadable": 2, "routine": 3}[priority.value],
        deadline=received + timedelta(minutes=deadline_min),
        received_at=received,
    )
    return rec.record_id


def test_migrate_is_idempotent(store: ReadingStore) -> None:
    assert store.migrate() == [], "second migrate applied something"


def test_directory(store: ReadingStore) -> None:
    _seed(store)
    store.add_site("site-a1", "county-a", "again")  # no-op
    with pytest.raises(ConflictError):
        store.add_site("site-a1", "county-b", "moved")
    with pytest.raises(NotFoundError):
        store.add_site("site-x", "county-zz", "x")
    assert store.site_county("site-b1") == "county-b"
    assert store.site_county("nope") is None
    store.add_user(User("dr-a", "Dr A", Role.CARDIOLOGIST, "county-a", None, T0))
    with pytest.raises(ConflictError):
        store.add_user(User("dr-a", "Dr A", Role.CARDIOLOGIST, "county-a", None, T0))
    store.add_token("tid1", "h" * 64, "dr-a", "lbl", T0, T0 + timedelta(days=1))
    with pytest.raises(NotFoundError):
        store.add_token("tid2", "g" * 64, "ghost", "", T0, None)
    p = store.principal_for_token("h" * 64, NOW)
    assert p == READER, f"{p}"
    assert store.principal_for_token("h" * 64, T0 + timedelta(days=2)) is None, "expired"
    assert store.revoke_token("tid1", NOW) is True
    assert store.revoke_token("tid1", NOW) is False
    assert store.principal_for_token("h" * 64, NOW) is None, "revoked token still valid"
    tokens = store.list_tokens("dr-a")
    assert [t.token_id for t in tokens] == ["tid1"] and tokens[0].revoked_at == NOW, (
        f"{tokens}"
    )


def test_insert_is_idempotent_and_detects_conflicts(store: ReadingStore) -> None:
    _seed(store)
    rec = new_record()
    kw = {"county_id": "county-a", "tier": 3, "deadline": T0 + timedelta(hours=24)}
    first = store.insert_record(rec, received_at=T0, **kw)
    again = store.insert_record(rec, received_at=T0 + timedelta(seconds=30), **kw)
    assert not first.duplicate and again.duplicate, f"{first} {again}"
    assert again.received_at == T0, f"duplicate must report the first arrival: {again}"
    with pytest.raises(DuplicateRecordError):
        store.insert_record(with_content(rec, "other"), received_at=T0, **kw)
    assert len(store.list_queue("county-a", NOW)) == 1, "duplicate queued twice"
    ingests = [e for e in store.list_audit(rec.record_id) if e.action is AuditAction.INGEST]
    assert len(ingests) == 1, f"{ingests}"


def test_record_round_trip(store: ReadingStore) -> None:
    _seed(store)
    rec = new_record(priority=Priority.CRITICAL)
    store.insert_record(
        rec,
        county_id="county-a",
        tier=0,
        deadline=T0 + timedelta(minutes=10),
        received_at=T0,
    )
    detail = store.get_record(rec.record_id, NOW)
    assert detail is not None
    assert detail.waveform == rec.waveform, "waveform changed in storage"
    assert detail.analysis_json == rec.analysis_json
    assert detail.entry.patient == rec.patient and detail.entry.findings == rec.findings
    assert detail.entry.acquired_at == rec.acquired_at, f"{detail.entry.acquired_at}"
    assert detail.device_id == rec.device_id and detail.reports == ()
    assert store.get_record("00000000-0000-0000-0000-000000000000", NOW) is None
    assert store.record_county(rec.record_id) == "county-a"
    assert store.record_county("00000000-0000-0000-0000-000000000000") is None


def test_queue_order_tier_then_deadline(store: ReadingStore) -> None:
    _seed(store)
    r_late_routine = _insert(store, Priority.ROUTINE, minutes=0, deadline_min=1440)
    r_warn_far = _insert(store, Priority.WARNING, minutes=0, deadline_min=30)
    r_warn_near = _insert(store, Priority.WARNING, minutes=-40, deadline_min=30)
    r_crit = _insert(store, Priority.CRITICAL, minutes=2, deadline_min=10)
    r_unread = _insert(store, Priority.UNREADABLE, minutes=1, deadline_min=30)
    _insert(store, Priority.CRITICAL, site="site-b1", county="county-b")
    order = [e.record_id for e in store.list_queue("county-a", NOW)]
    assert order == [r_crit, r_warn_near, r_warn_far, r_unread, r_late_routine], f"{order}"
    assert len(store.list_queue(None, NOW)) == 6, "global queue misses a county"
    assert [e.record_id for e in store.list_queue("county-a", NOW, limit=2)] == order[:2]
    stats = store.queue_stats(NOW)
    assert stats.depth[Priority.CRITICAL] == 2 and stats.depth[Priority.WARNING] == 2, (
        f"{stats}"
    )
    assert stats.overdue == 1, f"only the warning due 10 min ago is overdue: {stats}"


def test_claims_are_exclusive_and_leased(store: ReadingStore) -> None:
    _seed(store)
    r1 = _insert(store, Priority.CRITICAL)
    r2 = _insert(store, Priority.ROUTINE)
    lease = NOW + timedelta(minutes=5)
    got = store.claim(
        None, county_id="county-a", user_id="dr-a", now=NOW, lease_until=lease
    )
    assert got.record_id == r1 and got.status is RecordStatus.CLAIMED, f"{got}"
    assert got.claimed_by == "dr-a" and got.lease_expires_at == lease
    nxt = store.claim(
        None, county_id="county-a", user_id="dr-a2", now=NOW, lease_until=lease
    )
    assert nxt.record_id == r2, "second reader got the claimed record"
    with pytest.raises(NotFoundError):
        store.claim(None, county_id="county-a", user_id="dr-x", now=NOW, lease_until=lease)
    with pytest.raises(ClaimConflictError, match="claimed by dr-a"):
        store.claim(r1, county_id="county-a", user_id="dr-a2", now=NOW, lease_until=lease)
    with pytest.raises(NotFoundError):
        store.claim(r1, county_id="county-b", user_id="dr-b", now=NOW, lease_until=lease)
    # renew own claim
    renewed = store.claim(
        r1,
        county_id="county-a",
        user_id="dr-a",
        now=NOW,
        lease_until=lease + timedelta(minutes=5),
    )
    assert renewed.lease_expires_at == lease + timedelta(minutes=5)
    assert store.list_queue("county-a", NOW) == [], "claimed records listed as free"
    assert len(store.list_queue("county-a", NOW, include_claimed=True)) == 2
    # lease expiry hands it to someone else
    later = lease + timedelta(minutes=6)
    taken = store.claim(
        r1,
        county_id="county-a",
        user_id="dr-a2",
        now=later,
        lease_until=later + timedelta(minutes=5),
    )
    assert taken.claimed_by == "dr-a2", f"{taken}"
    with pytest.raises(ClaimConflictError):
        store.release(r1, county_id="county-a", user_id="dr-a", force=False, now=later)
    store.release(r1, county_id="county-a", user_id="dr-a", force=True, now=later)
    assert store.list_queue("county-a", later)[0].record_id == r1, (
        "released record not free"
    )
    actions = [e.action for e in store.list_audit(r1)]
    assert actions == [
        AuditAction.INGEST,
        AuditAction.CLAIM,
        AuditAction.CLAIM,
        AuditAction.CLAIM,
        AuditAction.RELEASE,
    ], f"{actions}"


def test_sign_and_amend_versions(store: ReadingStore) -> None:
    _seed(store)
    rid = _insert(store, Priority.WARNING)
    with pytest.raises(ClaimConflictError, match="claim the record"):
        store.sign_report(rid, signer=READER, draft=DRAFT, report_id="r-1", now=NOW)
    store.claim(
        rid,
        county_id="county-a",
        user_id="dr-a",
        now=NOW,
        lease_until=NOW + timedelta(minutes=5),
    )
    with pytest.raises(VersionConflictError.__mro__[1]):  # not signed yet -> precondition
        store.amend_report(
            rid,
            signer=READER,
            draft=DRAFT,
            base_version=1,
            reason="x",
            report_id="r-0",
            now=NOW,
        )
    v1 = store.sign_report(rid, signer=READER, draft=DRAFT, report_id="r-1", now=NOW)
    assert v1.version == 1 and v1.signed_by == "dr-a" and v1.site_id == "site-a1", f"{v1}"
    with pytest.raises(ClaimConflictError, match="already signed"):
        store.sign_report(rid, signer=READER, draft=DRAFT, report_id="r-1b", now=NOW)
    with pytest.raises(VersionConflictError):
        store.amend_report(
            rid,
            signer=READER2,
            draft=DRAFT,
            base_version=0,
            reason="x",
            report_id="r-2x",
            now=NOW,
        )
    v2 = store.amend_report(
        rid,
        signer=READER2,
        draft=replace(DRAFT, conclusion="Anterior STEMI"),
        base_version=1,
        reason="missed ST elevation",
        report_id="r-2",
        now=NOW + timedelta(minutes=1),
    )
    assert v2.version == 2 and v2.cursor > v1.cursor and v2.amend_reason, f"{v2}"
    detail = store.get_record(rid, NOW)
    assert detail is not None and [r.version for r in detail.reports] == [1, 2]
    assert detail.reports[0].conclusion == "Sinus rhythm", "version 1 was modified"
    assert detail.entry.status is RecordStatus.SIGNED
    assert store.list_queue("county-a", NOW, include_claimed=True) == []
    reports = store.reports_after("site-a1", 0)
    assert [r.report_id for r in reports] == ["r-1", "r-2"], f"{reports}"
    assert store.reports_after("site-a1", v1.cursor) == [v2]
    assert store.reports_after("site-b1", 0) == []
    with pytest.raises(NotFoundError):
        store.sign_report(
            "00000000-0000-0000-0000-000000000000",
            signer=READER,
            draft=DRAFT,
            report_id="r-9",
            now=NOW,
        )


def test_previous_record_of_same_patient(store: ReadingStore) -> None:
    _seed(store)
    old = _insert(store, minutes=-60, patient_id="p-77")
    new = _insert(store, minutes=0, patient_id="p-77")
    _insert(store, minutes=-30, patient_id="p-other")
    detail = store.get_record(new, NOW)
    assert detail is not None and detail.previous_record_id == old, f"{detail}"
    first = store.get_record(old, NOW)
    assert first is not None and first.previous_record_id is None


def test_audit_log_is_append_only(store: ReadingStore) -> None:
    _seed(store)
    store.append_audit(
        user_id="dr-a", action=AuditAction.VIEW, record_id=None, detail="x", now=NOW
    )
    from central_reader.store._sql import SqlStore

    assert isinstance(store, SqlStore)
    for sql in ("UPDATE audit_log SET detail = 'forged'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            with store._tx(write=True) as tx:
                tx.execute(sql)
    events = store.list_audit()
    assert [(e.user_id, e.detail) for e in events] == [("dr-a", "x")], f"{events}"


def test_concurrent_submissions_of_one_record_insert_once(store: ReadingStore) -> None:
    import threading

    _seed(store)
    recs = [new_record(seed=i) for i in range(20)]
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def submit(offset: int) -> None:
        for rec in recs[offset:] + recs[:offset]:
            res = store.insert_record(
                rec,
                county_id="county-a",
                tier=3,
                deadline=T0 + timedelta(hours=1),
                received_at=T0,
            )
            with lock:
                results.append((res.record_id, res.duplicate))

    threads = [threading.Thread(target=submit, args=(i * 5,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    fresh = sorted(rid for rid, dup in results if not dup)
    assert len(results) == 6 * 20, f"{len(results)} results"
    assert fresh == sorted(r.record_id for r in recs), (
        "a record was inserted twice or never"
    )
    assert len(store.list_queue("county-a", NOW, limit=1000)) == 20


def test_one_batch_mixing_new_duplicate_and_conflicting(store: ReadingStore) -> None:
    """A group-commit batch answers each record on its own (one transaction)."""
    from central_reader.store._batch import PendingInsert
    from central_reader.store._sql import SqlStore

    assert isinstance(store, SqlStore)
    _seed(store)
    old = new_record(seed=1)
    store.insert_record(
        old, county_id="county-a", tier=3, deadline=T0 + timedelta(hours=1), received_at=T0
    )
    fresh, fresh2 = new_record(seed=2), new_record(seed=3)
    later = T0 + timedelta(minutes=1)
    batch = [
        PendingInsert(r, "county-a", 3, later + timedelta(hours=1), later)
        for r in (fresh, old, with_content(old, "other"), fresh, with_content(fresh2, "x"))
    ]
    store._insert_batch(batch)
    got = [(p.result and (p.result.duplicate, p.result.received_at),
            type(p.error).__name__ if p.error else None) for p in batch]
    assert got == [
        ((False, later), None),
        ((True, T0), None),
        (None, "DuplicateRecordError"),
        ((True, later), None),
        ((False, later), None),
    ], f"{got}"
    ids = {e.record_id for e in store.list_queue("county-a", NOW, limit=100)}
    assert ids == {old.record_id, fresh.record_id, fresh2.record_id}, f"{ids}"
    detail = store.get_record(fresh2.record_id, NOW)
    assert detail is not None and detail.waveform.samples == fresh2.waveform.samples
    ingests = [e for e in store.list_audit() if e.action is AuditAction.INGEST]
    assert len(ingests) == 3, f"{ingests}"
