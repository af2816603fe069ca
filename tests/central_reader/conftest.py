"""Fixtures: real stores (SQLite file, PostgreSQL schema), a real gRPC server, tokens."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from central_reader.grpc_api import GrpcServer, build_server
from central_reader.service import ReadingService, ServiceConfig
from central_reader.store.base import ReadingStore
from central_reader.store.sqlite import SqliteStore
from central_reader.types import Role
from tests.central_reader.factories import Clock

PG_URL = os.environ.get("ECG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "skip, saying why"
        return f"PostgreSQL at {PG_URL} unavailable: {exc}"
    return None


_PG_SKIP = _pg_reason()


def make_pg_store(schema: str | None = None) -> ReadingStore:
    from central_reader.store.postgres import PostgresStore

    store = PostgresStore(PG_URL, schema=schema or f"t_{secrets.token_hex(6)}")
    store.migrate()
    return store


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema name; dropped after the test."""
    if _PG_SKIP:
        pytest.skip(_PG_SKIP)
    name = f"t_{secrets.token_hex(6)}"
    yield name
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[ReadingStore]:  # type: ignore[no-untyped-def]
    """A migrated, empty store: a real SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        s: ReadingStore = SqliteStore(tmp_path / "central.sqlite")
        s.migrate()
        yield s
        s.close()
    else:
        if _PG_SKIP:
            pytest.skip(_PG_SKIP)
        from central_reader.store.postgres import PostgresStore

        s = make_pg_store()
        yield s
        assert isinstance(s, PostgresStore)
        s.drop_schema()


def seed_directory(store: ReadingStore, service: ReadingService) -> dict[str, str]:
    """Two counties; per county a site-bound device, a reader, a hospital, an admin.

    Returns tokens by name: ``device-a``, ``reader-a``, ``reader-a2``, ``hospital-a``,
    ``admin-a``, ``device-b``, ``reader-b``, ``gateway-a``, ``admin``.
    """
    store.add_county("county-a", "County A")
    store.add_county("county-b", "County B")
    store.add_site("site-a1", "county-a", "Township A1")
    store.add_site("site-a2", "county-a", "Township A2")
    store.add_site("site-b1", "county-b", "Township B1")
    users = [
        ("dev-a1", Role.DEVICE, "county-a", "site-a1", "device-a"),
        ("gw-a", Role.DEVICE, "county-a", None, "gateway-a"),
        ("dr-a", Role.CARDIOLOGIST, "county-a", None, "reader-a"),
        ("dr-a2", Role.CARDIOLOGIST, "county-a", None, "reader-a2"),
        ("hosp-a", Role.HOSPITAL, "county-a", None, "hospital-a"),
        ("adm-a", Role.ADMIN, "county-a", None, "admin-a"),
        ("dev-b1", Role.DEVICE, "county-b", "site-b1", "device-b"),
        ("dr-b", Role.CARDIOLOGIST, "county-b", None, "reader-b"),
        ("root", Role.ADMIN, None, None, "admin"),
    ]
    tokens = {}
    for user_id, role, county, site, name in users:
        service.create_user(
            user_id, role=role, name=f"Dr {user_id}", county_id=county, site_id=site
        )
        tokens[name] = service.issue_token(user_id)[1]
    return tokens


@dataclass
class Central:
    """A running central: service, real gRPC server, channel, tokens."""

    service: ReadingService
    server: GrpcServer
    channel: grpc.Channel
    tokens: dict[str, str]
    clock: Clock

    def md(self, who: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.tokens[who]}"),)


def start_central(store: ReadingStore, clock: Clock) -> Central:
    service = ReadingService(store, config=ServiceConfig(report_poll_s=0.2), clock=clock)
    tokens = seed_directory(store, service)
    server = build_server(service, "127.0.0.1:0", max_workers=16)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    return Central(service, server, channel, tokens, clock)


@pytest.fixture
def central(tmp_path) -> Iterator[Central]:  # type: ignore[no-untyped-def]
    """A central on a real SQLite file with a real gRPC server on 127.0.0.1:0."""
    store = SqliteStore(tmp_path / "central.sqlite")
    store.migrate()
    c = start_central(store, Clock())
    yield c
    c.channel.close()
    c.service.close()
    c.server.stop(0)
    store.close()
