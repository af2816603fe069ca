"""The service layer: every rule of the central reader, independent of the transport.

The gRPC servicers (``central_reader.grpc_api``) and the reading web page call the same
methods, so authorization, validation and auditing are implemented exactly once.

Authorization (who may do what) is the table in ``central_reader.authz``, checked here.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from central_reader.auth import hash_token, new_token
from central_reader.authz import Action, allowed_roles
from central_reader.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from central_reader.metrics import Registry
from central_reader.queue import ReadingDeadlines, compute_deadline, tier_of
from central_reader.store.base import ReadingStore
from central_reader.types import (
    AuditAction,
    IngestResult,
    NewRecord,
    Principal,
    Priority,
    QueueEntry,
    RecordDetail,
    Report,
    ReportDraft,
    Role,
    User,
)
from central_reader.validation import (
    CLOCK_SKEW_CODE,
    check_identifier,
    check_record,
    check_record_id,
    check_report_draft,
    correct_clock_skew,
)

__all__ = [
    "CLOCK_SKEW_CODE",
    "Action",
    "IngestListener",
    "ReadingService",
    "ReportListener",
    "ServiceConfig",
    "allowed_roles",
    "correct_clock_skew",
]

_log = logging.getLogger(__name__)

#: ``(record, county_id, result)`` after a new record's commit.
IngestListener = Callable[[NewRecord, str, IngestResult], object]
#: ``(report)`` after a report (version 1 or an amendment) commits.
ReportListener = Callable[[Report], object]


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Service-level settings.

    Parameters
    ----------
    deadlines
        Reading time per tier.
    default_lease_s, max_lease_s
        Claim lease when the client does not ask, and the most it may ask for.
    token_cache_s
        How long an authenticated token is trusted without a store lookup (revocation
        takes effect within this time).
    auto_register_sites
        Let a county-gateway device submit for a site not yet known (it joins the device's
        county). Development convenience; off in production.
    report_poll_s
        How often a report stream re-reads the store when nothing was signed in this
        process (catches reports signed by other instances on a shared database).
    """

    deadlines: ReadingDeadlines = field(default_factory=ReadingDeadlines)
    default_lease_s: float = 300.0
    max_lease_s: float = 3600.0
    token_cache_s: float = 10.0
    auto_register_sites: bool = False
    report_poll_s: float = 1.0


class ReadingService:
    """Ingest, the reading queue, reports and their authorization over one store.

    Parameters
    ----------
    store
        The storage backend (already migrated).
    config
        Settings; defaults suit production.
    clock
        Returns the current aware UTC time (injectable for tests).
    metrics
        Registry to publish into; a private one is created when omitted.
    anonymous
        Principal for calls without a token (development mode only); None rejects them.
    """

    def __init__(
        self,
        store: ReadingStore,
        *,
        config: ServiceConfig | None = None,
        clock: Callable[[], datetime] | None = None,
        metrics: Registry | None = None,
        anonymous: Principal | None = None,
    ) -> None:
        self.store = store
        self.config = config or ServiceConfig()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._anonymous = anonymous
        self._token_cache: dict[str, tuple[float, Principal]] = {}
        self._site_cache: dict[str, str] = {}
        self._ingest_listeners: list[IngestListener] = []
        self._report_listeners: list[ReportListener] = []
        self._cache_lock = threading.Lock()
        self._reports_changed = threading.Condition()
        self._report_generation = 0
        self._closing = threading.Event()
        self.metrics = metrics or Registry()
        self._ingest_latency = self.metrics.histogram(
            "ecg_ingest_latency_seconds",
            "Server-side time to validate and durably commit one submitted record.",
        )
        self._ingested = self.metrics.counter(
            "ecg_ingest_records_total", "Submitted records by outcome.", ("outcome",)
        )
        self.metrics.gauge(
            "ecg_queue_depth", "Unsigned records per priority tier.", self._collect_depth
        )
        self.metrics.gauge(
            "ecg_queue_overdue",
            "Unsigned records past their deadline.",
            self._collect_overdue,
        )

    def now(self) -> datetime:
        """The service clock."""
        return self._clock()

    def close(self) -> None:
        """Wake and end every report stream (server shutdown)."""
        self._closing.set()
        with self._reports_changed:
            self._reports_changed.notify_all()

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    # -- authentication ------------------------------------------------------------------

    def authenticate(self, token: str | None) -> Principal:
        """The principal of a bearer token.

        Raises
        ------
        AuthenticationError
            No token (and no development anonymous principal), or an unknown, revoked or
            expired token.
        """
        if not token:
            if self._anonymous is not None:
                return self._anonymous
            raise AuthenticationError(
                "missing bearer token", expected="metadata authorization: Bearer <token>"
            )
        digest = hash_token(token)
        mono = time.monotonic()
        with self._cache_lock:
            cached = self._token_cache.get(digest)
        if cached is not None and cached[0] > mono:
            return cached[1]
        principal = self.store.principal_for_token(digest, self.now())
        if principal is None:
            raise AuthenticationError("unknown, revoked or expired token")
        with self._cache_lock:
            if len(self._token_cache) > 10_000:
                self._token_cache.clear()
            self._token_cache[digest] = (mono + self.config.token_cache_s, principal)
        return principal

    @staticmethod
    def _require(principal: Principal, action: Action) -> None:
        if principal.role not in allowed_roles(action):
            raise PermissionDeniedError(
                f"role {principal.role.value} may not {action.value}",
                expected=" or ".join(sorted(r.value for r in allowed_roles(action))),
                got=principal.role.value,
            )

    @staticmethod
    def _county_scope(principal: Principal) -> str | None:
        """The county a principal is confined to (None = all, global admin only)."""
        return principal.county_id

    def _check_record_scope(
        self, principal: Principal, county_id: str, record_id: str
    ) -> None:
        scope = self._county_scope(principal)
        if scope is not None and scope != county_id:
            raise NotFoundError(
                "no such record in this county", field="record_id", got=record_id
            )

    def _site_county(self, site_id: str) -> str | None:
        """A site's county; cached, as a site never changes county (the store refuses)."""
        county = self._site_cache.get(site_id)
        if county is None:
            county = self.store.site_county(site_id)
            if county is not None:
                self._site_cache[site_id] = county
        return county

    def _check_site_scope(self, principal: Principal, site_id: str) -> str:
        """Return the site's county after checking the caller may act for the site."""
        county = self._site_county(site_id)
        if principal.role is Role.DEVICE and principal.site_id is not None:
            if site_id != principal.site_id:
                raise PermissionDeniedError(
                    "device is bound to another site",
                    field="site_id",
                    expected=principal.site_id,
                    got=site_id,
                )
        if county is None:
            raise NotFoundError("unknown site", field="site_id", got=site_id)
        scope = self._county_scope(principal)
        if scope is not None and county != scope:
            raise PermissionDeniedError(
                "site belongs to another county",
                field="site_id",
                expected=f"a site of {scope}",
                got=site_id,
            )
        return county

    # -- ingest --------------------------------------------------------------------------

    def submit(self, principal: Principal, record: NewRecord) -> IngestResult:
        """Validate, store and queue a record; returns once it is committed.

        Raises
        ------
        InvalidRequestError, PermissionDeniedError, NotFoundError (unknown site),
        DuplicateRecordError (same id, other content), StoreUnavailableError
        """
        start = time.perf_counter()
        try:
            self._require(principal, Action.SUBMIT)
            now = self.now()
            record = correct_clock_skew(record, now)
            check_record(record, now)
            if principal.site_id is not None and record.device_id != principal.user_id:
                raise PermissionDeniedError(
                    "device_id is not the caller's device",
                    field="device_id",
                    expected=principal.user_id,
                    got=record.device_id,
                )
            county = self._site_for_submit(principal, record.site_id)
            result = self.store.insert_record(
                record,
                county_id=county,
                tier=tier_of(record.priority),
                deadline=compute_deadline(
                    record.priority, record.acquired_at, now, self.config.deadlines
                ),
                received_at=now,
            )
        except Exception:
            self._ingested.inc(outcome="rejected")
            raise
        self._ingest_latency.observe(time.perf_counter() - start)
        self._ingested.inc(outcome="duplicate" if result.duplicate else "accepted")
        if not result.duplicate:
            for listener in self._ingest_listeners:
                self._call_listener(listener, record, county, result)
        return result

    # -- listeners (alerts and other follow-ups) -----------------------------------------

    def on_ingest(self, listener: IngestListener) -> None:
        """Call ``listener(record, county_id, result)`` after each new record's commit.

        Listeners run in the submitting thread after the acknowledgement is decided (the
        record is durable whatever they do); an exception is logged, not raised. Work that
        must not be lost has to be idempotent and recoverable from the store on restart.
        """
        self._ingest_listeners.append(listener)

    def on_report(self, listener: ReportListener) -> None:
        """Call ``listener(report)`` after each signed report or amendment commits."""
        self._report_listeners.append(listener)

    @staticmethod
    def _call_listener(listener: Callable[..., object], *args: object) -> None:
        try:
            listener(*args)
        except Exception:
            _log.exception("listener %r failed", listener)

    def _site_for_submit(self, principal: Principal, site_id: str) -> str:
        if (
            self.config.auto_register_sites
            and principal.site_id is None
            and principal.county_id is not None
            and self._site_county(site_id) is None
        ):
            check_identifier(site_id, "site_id")
            self.store.add_site(site_id, principal.county_id, site_id)
            _log.info("auto-registered site %s in county %s", site_id, principal.county_id)
        return self._check_site_scope(principal, site_id)

    # -- reading -------------------------------------------------------------------------

    def list_queue(
        self, principal: Principal, *, limit: int = 100, include_claimed: bool = False
    ) -> list[QueueEntry]:
        """The caller's county queue in queue order (``limit`` 1-1000)."""
        self._require(principal, Action.LIST_QUEUE)
        if not 1 <= limit <= 1000:
            raise InvalidRequestError(
                "limit out of range", field="limit", expected="1-1000", got=str(limit)
            )
        return self.store.list_queue(
            self._county_scope(principal),
            self.now(),
            limit=limit,
            include_claimed=include_claimed,
        )

    def claim(
        self, principal: Principal, record_id: str | None, lease_s: float | None = None
    ) -> QueueEntry:
        """Claim a record (or the most urgent free one) with a lease."""
        self._require(principal, Action.CLAIM)
        lease = self.config.default_lease_s if lease_s is None else lease_s
        if not 10 <= lease <= self.config.max_lease_s:
            raise InvalidRequestError(
                "lease out of range",
                field="lease_seconds",
                expected=f"10-{self.config.max_lease_s:g}",
                got=f"{lease:g}",
            )
        if record_id is not None:
            record_id = check_record_id(record_id)
        county = principal.county_id
        if county is None:  # pragma: no cover - cardiologists always have a county
            raise PermissionDeniedError("claims need a county-scoped reader")
        now = self.now()
        return self.store.claim(
            record_id,
            county_id=county,
            user_id=principal.user_id,
            now=now,
            lease_until=now + timedelta(seconds=lease),
        )

    def release(self, principal: Principal, record_id: str) -> None:
        """Give a claim back (admins may force-release anyone's)."""
        self._require(principal, Action.RELEASE)
        record_id = check_record_id(record_id)
        self.store.release(
            record_id,
            county_id=self._county_scope(principal),
            user_id=principal.user_id,
            force=principal.role is Role.ADMIN,
            now=self.now(),
        )

    def get_record(self, principal: Principal, record_id: str) -> RecordDetail:
        """A record with waveform, analysis and reports; the view is audited."""
        self._require(principal, Action.VIEW_RECORD)
        record_id = check_record_id(record_id)
        now = self.now()
        detail = self.store.get_record(record_id, now)
        if detail is None:
            raise NotFoundError("no such record", field="record_id", got=record_id)
        self._check_record_scope(principal, detail.entry.county_id, record_id)
        self.store.append_audit(
            user_id=principal.user_id,
            action=AuditAction.VIEW,
            record_id=record_id,
            detail=principal.role.value,
            now=now,
        )
        return detail

    def _record_county(self, principal: Principal, record_id: str) -> None:
        county = self.store.record_county(record_id)
        if county is None:
            raise NotFoundError("no such record", field="record_id", got=record_id)
        self._check_record_scope(principal, county, record_id)

    def sign(self, principal: Principal, record_id: str, draft: ReportDraft) -> Report:
        """Sign version 1 of a claimed record's report; releases the claim."""
        self._require(principal, Action.SIGN)
        record_id = check_record_id(record_id)
        check_report_draft(draft)
        self._record_county(principal, record_id)
        report = self.store.sign_report(
            record_id,
            signer=principal,
            draft=draft,
            report_id=str(uuid.uuid4()),
            now=self.now(),
        )
        return self._published(report)

    def amend(
        self,
        principal: Principal,
        record_id: str,
        base_version: int,
        draft: ReportDraft,
        reason: str,
    ) -> Report:
        """Sign a new version on top of ``base_version`` (which must be the latest)."""
        self._require(principal, Action.AMEND)
        record_id = check_record_id(record_id)
        check_report_draft(draft)
        if not reason.strip() or len(reason) > 2000:
            raise InvalidRequestError(
                "an amendment needs a reason (<= 2000 characters)",
                field="reason",
                got=str(len(reason)),
            )
        self._record_county(principal, record_id)
        report = self.store.amend_report(
            record_id,
            signer=principal,
            draft=draft,
            base_version=base_version,
            reason=reason,
            report_id=str(uuid.uuid4()),
            now=self.now(),
        )
        return self._published(report)

    # -- reports stream ------------------------------------------------------------------

    def _published(self, report: Report) -> Report:
        """Wake report streams and run the report listeners for a newly signed version."""
        self._notify_reports()
        for listener in self._report_listeners:
            self._call_listener(listener, report)
        return report

    def _notify_reports(self) -> None:
        with self._reports_changed:
            self._report_generation += 1
            self._reports_changed.notify_all()

    def check_subscribe(self, principal: Principal, site_id: str, cursor: int) -> None:
        """Raise unless the caller may read the site's reports."""
        self._require(principal, Action.SUBSCRIBE_REPORTS)
        check_identifier(site_id, "site_id")
        if cursor < 0:
            raise InvalidRequestError(
                "cursor must be >= 0", field="cursor", got=str(cursor)
            )
        self._check_site_scope(principal, site_id)

    def reports_after(
        self, principal: Principal, site_id: str, cursor: int, limit: int = 100
    ) -> list[Report]:
        """One page of a site's reports after a cursor (authorization included)."""
        self.check_subscribe(principal, site_id, cursor)
        return self.store.reports_after(site_id, cursor, limit=limit)

    def wait_for_reports(self, generation: int, timeout_s: float) -> int:
        """Block until a report is signed here, the timeout passes or the service closes.

        Returns the current generation; pass it back next time.
        """
        with self._reports_changed:
            if self._report_generation == generation and not self._closing.is_set():
                self._reports_changed.wait(timeout_s)
            return self._report_generation

    @property
    def report_generation(self) -> int:
        return self._report_generation

    # -- administration (CLI) ------------------------------------------------------------

    def create_user(
        self,
        user_id: str,
        *,
        role: Role,
        name: str,
        county_id: str | None,
        site_id: str | None = None,
    ) -> User:
        """Create a user (device, cardiologist, hospital or admin)."""
        check_identifier(user_id, "user_id")
        if role is not Role.ADMIN and county_id is None:
            raise InvalidRequestError("this role needs a county", field="county_id")
        if site_id is not None:
            if role is not Role.DEVICE:
                raise InvalidRequestError(
                    "only devices are bound to a site", field="site_id"
                )
            if self.store.site_county(site_id) != county_id:
                raise NotFoundError(
                    "no such site in the county", field="site_id", got=site_id
                )
        user = User(
            user_id=user_id,
            name=name or user_id,
            role=role,
            county_id=county_id,
            site_id=site_id,
            created_at=self.now(),
        )
        self.store.add_user(user)
        return user

    def issue_token(
        self, user_id: str, *, label: str = "", ttl: timedelta | None = None
    ) -> tuple[str, str]:
        """A new ``(token_id, token)`` for a user; only the hash is stored."""
        token_id, token = new_token()
        now = self.now()
        self.store.add_token(
            token_id,
            hash_token(token),
            user_id,
            label,
            now,
            None if ttl is None else now + ttl,
        )
        return token_id, token

    # -- metrics -------------------------------------------------------------------------

    def _collect_depth(self) -> list[tuple[str, dict[str, str], float]]:
        stats = self.store.queue_stats(self.now())
        return [
            ("ecg_queue_depth", {"priority": p.value}, float(stats.depth.get(p, 0)))
            for p in Priority
        ]

    def _collect_overdue(self) -> list[tuple[str, dict[str, str], float]]:
        return [
            ("ecg_queue_overdue", {}, float(self.store.queue_stats(self.now()).overdue))
        ]
