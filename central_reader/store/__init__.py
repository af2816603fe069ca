"""Storage: the ``ReadingStore`` interface and its SQLite and PostgreSQL implementations."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from central_reader.errors import ConfigError
from central_reader.store.base import ReadingStore, TokenInfo

__all__ = ["ReadingStore", "TokenInfo", "open_store"]


def open_store(url: str, *, migrate: bool = True) -> ReadingStore:
    """Open (and by default migrate) the store a database URL names.

    Parameters
    ----------
    url
        ``sqlite:///relative/path.sqlite``, ``sqlite:////absolute/path.sqlite`` or a libpq
        URL ``postgresql://user@host:port/db`` (``postgres://`` too; a schema can be chosen
        with ``?options=-csearch_path%3Dname``).
    migrate
        Apply pending migrations before returning.
    """
    scheme = urlsplit(url).scheme
    store: ReadingStore
    if scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(
                "bad SQLite URL", field="db", expected="sqlite:///path", got=url
            )
        from central_reader.store.sqlite import SqliteStore

        store = SqliteStore(Path(path))
    elif scheme in ("postgresql", "postgres"):
        from central_reader.store.postgres import PostgresStore

        store = PostgresStore(url)
    else:
        raise ConfigError(
            "unsupported database URL",
            field="db",
            expected="sqlite:///path or postgresql://...",
            got=url,
        )
    if migrate:
        store.migrate()
    return store
