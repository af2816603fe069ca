"""``ecg-central``: serve, inspect the queue, manage counties, sites, users and tokens.

Scripts rely on these spellings::

    ecg-central serve --db URL --listen HOST:PORT --http HOST:PORT [--insecure]
    ecg-central queue --db URL --json
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from central_reader.errors import ConfigError, ReaderError
from central_reader.grpc_api import TlsFiles, build_server
from central_reader.http import HttpApp, start_http
from central_reader.metrics import Registry
from central_reader.queue import ReadingDeadlines
from central_reader.service import ReadingService, ServiceConfig
from central_reader.store import ReadingStore, open_store
from central_reader.types import Principal, QueueEntry, Role

__all__ = ["main"]

_log = logging.getLogger("central_reader")

DEFAULT_DB = "sqlite:///var/central.sqlite"
DEV_COUNTY = "dev-county"
DEV_USERS = (
    ("dev-gateway", Role.DEVICE, "Development county gateway"),
    ("dev-reader", Role.CARDIOLOGIST, "Development cardiologist"),
    ("dev-hospital", Role.HOSPITAL, "Development chest-pain centre"),
    ("dev-admin", Role.ADMIN, "Development administrator"),
)


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def entry_json(entry: QueueEntry, now: datetime) -> dict[str, object]:
    """One queue item as the ``queue --json`` object."""
    return {
        "record_id": entry.record_id,
        "site_id": entry.site_id,
        "county_id": entry.county_id,
        "priority": entry.priority.value,
        "findings": [f.code for f in entry.findings],
        "acquired_at": _iso(entry.acquired_at),
        "received_at": _iso(entry.received_at),
        "deadline": _iso(entry.deadline),
        "status": entry.status.value,
        "overdue": entry.is_overdue(now),
        "claimed_by": entry.claimed_by,
        "patient": {
            "pseudo_id": entry.patient.pseudo_id,
            "age_years": entry.patient.age_years,
            "sex": entry.patient.sex.value,
        },
    }


# -- serve -------------------------------------------------------------------------------


def _dev_bootstrap(service: ReadingService, token_file: Path) -> Principal:
    """Create the development county, users and tokens; write the tokens to a file."""
    store = service.store
    store.add_county(DEV_COUNTY, "Development county")
    existing = {u.user_id for u in store.list_users()}
    for user_id, role, name in DEV_USERS:
        if user_id not in existing:
            service.create_user(user_id, role=role, name=name, county_id=DEV_COUNTY)
    tokens: dict[str, str] = {}
    if token_file.is_file():
        try:
            saved = json.loads(token_file.read_text(encoding="utf-8"))
            for _, role, _ in DEV_USERS:
                service.authenticate(saved[role.value])
            tokens = {role.value: saved[role.value] for _, role, _ in DEV_USERS}
        except (ValueError, KeyError, TypeError, ReaderError):
            tokens = {}
    if not tokens:
        for user_id, role, _ in DEV_USERS:
            tokens[role.value] = service.issue_token(user_id, label="dev")[1]
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(json.dumps(tokens, indent=2) + "\n", encoding="utf-8")
        token_file.chmod(0o600)
    _log.warning(
        "development mode: tokens in %s; calls without a token act as %s",
        token_file,
        DEV_USERS[0][0],
    )
    return Principal(
        user_id=DEV_USERS[0][0],
        role=Role.DEVICE,
        name=DEV_USERS[0][2],
        county_id=DEV_COUNTY,
        site_id=None,
    )


def _default_token_file(db: str) -> Path:
    if db.startswith("sqlite:///"):
        return Path(db[len("sqlite:///") :]).with_name("dev-tokens.json")
    return Path("var/dev-tokens.json")


def _serve(ns: argparse.Namespace) -> int:
    if not ns.insecure and not (ns.tls_cert and ns.tls_key):
        raise ConfigError(
            "TLS needs --tls-cert and --tls-key (or --insecure for development)",
            field="tls",
        )
    tls = (
        None
        if ns.insecure
        else TlsFiles(
            Path(ns.tls_cert),
            Path(ns.tls_key),
            Path(ns.tls_client_ca) if ns.tls_client_ca else None,
        )
    )
    deadlines = ReadingDeadlines(
        critical_s=ns.deadline_critical_s,
        warning_s=ns.deadline_warning_s,
        unreadable_s=ns.deadline_unreadable_s,
        routine_s=ns.deadline_routine_s,
    )
    store = open_store(ns.db)
    metrics = Registry()
    config = ServiceConfig(deadlines=deadlines, auto_register_sites=ns.dev)
    service = ReadingService(store, config=config, metrics=metrics)
    if ns.dev:
        anonymous = _dev_bootstrap(
            service, Path(ns.dev_tokens) if ns.dev_tokens else _default_token_file(ns.db)
        )
        service = ReadingService(
            store, config=config, metrics=Registry(), anonymous=anonymous
        )
        metrics = service.metrics
    from central_reader.alerts.cli import start_for_serve  # issue 6: chest-pain alerts

    alerts = start_for_serve(service, ns)
    grpc_server = build_server(
        service,
        ns.listen,
        tls=tls,
        max_workers=ns.workers,
        extra_services=alerts.extra_services if alerts is not None else (),
    )
    http_app = HttpApp(service, metrics)
    # The reading station page (issue 7); imported here so the other subcommands start fast.
    from central_reader.web import register_routes

    register_routes(
        http_app, alert_codes=alerts.alerts.config.codes if alerts is not None else ()
    )
    try:
        http_server = start_http(http_app, ns.http)
    except OSError as exc:
        grpc_server.stop(0)
        raise ConfigError(f"cannot listen: {exc}", field="http", got=ns.http) from exc
    _log.info(
        "gRPC on %s (port %d, %s), HTTP on %s (port %d), store %r",
        ns.listen,
        grpc_server.port,
        "plaintext" if tls is None else "TLS",
        ns.http,
        http_server.port,
        store,
    )
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        _log.info("signal %d: shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    sys.stderr.write("ready\n")
    sys.stderr.flush()
    while not stop.wait(3600):
        pass
    service.close()
    if alerts is not None:
        alerts.close()
    http_server.stop()
    grpc_server.stop(ns.grace)
    store.close()
    _log.info("stopped")
    return 0


# -- queue -------------------------------------------------------------------------------


def _queue(ns: argparse.Namespace) -> int:
    store = open_store(ns.db)
    try:
        now = datetime.now(UTC)
        entries = store.list_queue(ns.county, now, limit=ns.limit, include_claimed=True)
    finally:
        store.close()
    if ns.json:
        sys.stdout.write(
            json.dumps([entry_json(e, now) for e in entries], ensure_ascii=False) + "\n"
        )
        return 0
    for e in entries:
        left = (e.deadline - now).total_seconds()
        flag = "OVERDUE" if e.is_overdue(now) else f"{left / 60:7.1f} min"
        sys.stdout.write(
            f"{e.priority.value:<10} {flag:>11}  {e.status.value:<8} {e.site_id:<16} "
            f"{e.record_id}  {','.join(f.code for f in e.findings)}\n"
        )
    return 0


# -- directory ---------------------------------------------------------------------------


def _with_service(ns: argparse.Namespace) -> tuple[ReadingStore, ReadingService]:
    store = open_store(ns.db)
    return store, ReadingService(store)


def _counties(ns: argparse.Namespace) -> int:
    store, _ = _with_service(ns)
    try:
        store.add_county(ns.county_id, ns.name or ns.county_id)
    finally:
        store.close()
    return 0


def _sites(ns: argparse.Namespace) -> int:
    store, _ = _with_service(ns)
    try:
        store.add_site(ns.site_id, ns.county, ns.name or ns.site_id)
    finally:
        store.close()
    return 0


def _users(ns: argparse.Namespace) -> int:
    store, service = _with_service(ns)
    try:
        if ns.action == "list":
            users = store.list_users()
            rows = [
                {
                    "user_id": u.user_id,
                    "name": u.name,
                    "role": u.role.value,
                    "county_id": u.county_id,
                    "site_id": u.site_id,
                    "created_at": _iso(u.created_at),
                }
                for u in users
            ]
            sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
            return 0
        if ns.site and store.site_county(ns.site) is None and ns.county:
            store.add_site(ns.site, ns.county, ns.site)
        service.create_user(
            ns.user_id,
            role=Role(ns.role),
            name=ns.name or ns.user_id,
            county_id=ns.county,
            site_id=ns.site,
        )
        if ns.token:
            token_id, token = service.issue_token(ns.user_id, label=ns.label)
            sys.stderr.write(f"token {token_id} for {ns.user_id} (shown once):\n")
            sys.stdout.write(token + "\n")
    finally:
        store.close()
    return 0


def _tokens(ns: argparse.Namespace) -> int:
    store, service = _with_service(ns)
    try:
        if ns.action == "issue":
            ttl = timedelta(days=ns.ttl_days) if ns.ttl_days else None
            token_id, token = service.issue_token(ns.user_id, label=ns.label, ttl=ttl)
            sys.stderr.write(f"token {token_id} for {ns.user_id} (shown once):\n")
            sys.stdout.write(token + "\n")
        elif ns.action == "list":
            rows = [
                {
                    "token_id": t.token_id,
                    "user_id": t.user_id,
                    "label": t.label,
                    "created_at": _iso(t.created_at),
                    "expires_at": _iso(t.expires_at),
                    "revoked_at": _iso(t.revoked_at),
                }
                for t in store.list_tokens(ns.user)
            ]
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        else:
            if not store.revoke_token(ns.token_id, datetime.now(UTC)):
                raise ConfigError("no such active token", field="token_id", got=ns.token_id)
    finally:
        store.close()
    return 0


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecg-central", description="County ECG reading centre."
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def db(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db",
            default=DEFAULT_DB,
            help=f"sqlite:///path or postgresql://... (default {DEFAULT_DB})",
        )

    serve = sub.add_parser("serve", help="run the gRPC and HTTP servers")
    db(serve)
    serve.add_argument("--listen", default="127.0.0.1:50051", help="gRPC HOST:PORT")
    serve.add_argument(
        "--http", default="127.0.0.1:8080", help="HTTP HOST:PORT (metrics, reading page)"
    )
    serve.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
    )
    serve.add_argument(
        "--insecure", action="store_true", help="plaintext gRPC, for local development only"
    )
    serve.add_argument("--tls-cert", help="server certificate (PEM)")
    serve.add_argument("--tls-key", help="server private key (PEM)")
    serve.add_argument("--tls-client-ca", help="require client certificates from this CA")
    serve.add_argument(
        "--dev",
        action="store_true",
        help="development bootstrap: county, users, tokens file, "
        "anonymous calls act as the county gateway device",
    )
    serve.add_argument("--dev-tokens", help="where --dev writes the tokens (JSON)")
    serve.add_argument(
        "--grace", type=float, default=5.0, help="seconds running calls get at shutdown"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=128,
        help="gRPC worker threads (each open report stream holds one)",
    )
    defaults = ReadingDeadlines()
    for tier in ("critical", "warning", "unreadable", "routine"):
        serve.add_argument(
            f"--deadline-{tier}-s",
            type=float,
            default=getattr(defaults, f"{tier}_s"),
            help=f"reading deadline of {tier} records, seconds",
        )
    serve.set_defaults(func=_serve)
    from central_reader.alerts.cli import add_serve_args
    from central_reader.alerts.cli import register as register_alerts

    add_serve_args(serve)  # issue 6: --alerts-config and ladder overrides
    register_alerts(sub, db)  # issue 6: ecg-central alerts watch|report|show

    queue = sub.add_parser("queue", help="print the reading queue (all counties)")
    db(queue)
    queue.add_argument("--json", action="store_true", help="one JSON array")
    queue.add_argument("--county", help="only this county")
    queue.add_argument("--limit", type=int, default=1000)
    queue.set_defaults(func=_queue)

    counties = sub.add_parser("counties", help="add a county")
    counties.add_argument("action", choices=["add"])
    counties.add_argument("county_id")
    counties.add_argument("--name")
    db(counties)
    counties.set_defaults(func=_counties)

    sites = sub.add_parser("sites", help="add a site (township) to a county")
    sites.add_argument("action", choices=["add"])
    sites.add_argument("site_id")
    sites.add_argument("--county", required=True)
    sites.add_argument("--name")
    db(sites)
    sites.set_defaults(func=_sites)

    users = sub.add_parser("users", help="add or list users (devices, readers...)")
    users.add_argument("action", choices=["add", "list"])
    users.add_argument("user_id", nargs="?")
    users.add_argument("--role", choices=[r.value for r in Role])
    users.add_argument("--county")
    users.add_argument("--site", help="bind a device to one site (created if missing)")
    users.add_argument("--name")
    users.add_argument("--token", action="store_true", help="also issue and print a token")
    users.add_argument("--label", default="")
    db(users)
    users.set_defaults(func=_users)

    tokens = sub.add_parser("tokens", help="issue, list or revoke tokens")
    tokens.add_argument("action", choices=["issue", "list", "revoke"])
    tokens.add_argument("user_id", nargs="?", help="issue: the user")
    tokens.add_argument("--token-id", help="revoke: the token id")
    tokens.add_argument("--user", help="list: only this user's tokens")
    tokens.add_argument("--label", default="")
    tokens.add_argument("--ttl-days", type=float)
    db(tokens)
    tokens.set_defaults(func=_tokens)
    from central_reader.network import register as register_network  # issue 8

    register_network(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ecg-central``; returns the exit status."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    logging.basicConfig(
        level=ns.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    if ns.command == "users" and ns.action == "add" and not (ns.user_id and ns.role):
        parser.error("users add needs USER_ID and --role")
    if ns.command == "tokens" and ns.action == "issue" and not ns.user_id:
        parser.error("tokens issue needs USER_ID")
    if ns.command == "tokens" and ns.action == "revoke" and not ns.token_id:
        parser.error("tokens revoke needs --token-id")
    try:
        return int(ns.func(ns))
    except ReaderError as exc:
        sys.stderr.write(f"ecg-central: {exc}\n")
        return 2
