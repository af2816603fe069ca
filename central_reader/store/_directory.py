"""Counties, sites, users and tokens in SQL (shared by the SQLite and PostgreSQL stores)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from central_reader.errors import ConflictError, NotFoundError
from central_reader.store._rows import Tx, from_us, opt_dt, opt_us, to_us, user_from_row
from central_reader.store.base import TokenInfo
from central_reader.types import Principal, Role, User

__all__ = ["SqlDirectory"]


class SqlDirectory(ABC):
    """The directory half of :class:`~central_reader.store.base.ReadingStore`."""

    @abstractmethod
    def _tx(self, *, write: bool) -> AbstractContextManager[Tx]:
        """A transaction: commit on normal exit, roll back on an exception."""

    def add_county(self, county_id: str, name: str) -> None:
        with self._tx(write=True) as tx:
            tx.execute(
                "INSERT INTO counties (county_id, name) VALUES (?, ?)"
                " ON CONFLICT (county_id) DO NOTHING",
                (county_id, name),
            )

    def add_site(self, site_id: str, county_id: str, name: str) -> None:
        with self._tx(write=True) as tx:
            if (
                tx.one("SELECT 1 AS x FROM counties WHERE county_id = ?", (county_id,))
                is None
            ):
                raise NotFoundError("no such county", field="county_id", got=county_id)
            row = tx.one("SELECT county_id FROM sites WHERE site_id = ?", (site_id,))
            if row is not None:
                if row["county_id"] != county_id:
                    raise ConflictError(
                        "site belongs to another county",
                        field="site_id",
                        expected=county_id,
                        got=row["county_id"],
                    )
                return
            tx.execute(
                "INSERT INTO sites (site_id, county_id, name) VALUES (?, ?, ?)",
                (site_id, county_id, name),
            )

    def site_county(self, site_id: str) -> str | None:
        with self._tx(write=False) as tx:
            row = tx.one("SELECT county_id FROM sites WHERE site_id = ?", (site_id,))
        return None if row is None else str(row["county_id"])

    def add_user(self, user: User) -> None:
        with self._tx(write=True) as tx:
            if tx.one("SELECT 1 AS x FROM users WHERE user_id = ?", (user.user_id,)):
                raise ConflictError("user exists", field="user_id", got=user.user_id)
            tx.execute(
                "INSERT INTO users (user_id, name, role, county_id, site_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    user.user_id,
                    user.name,
                    user.role.value,
                    user.county_id,
                    user.site_id,
                    to_us(user.created_at),
                ),
            )

    def list_users(self) -> list[User]:
        with self._tx(write=False) as tx:
            rows = tx.all("SELECT * FROM users ORDER BY user_id")
        return [user_from_row(r) for r in rows]

    def add_token(
        self,
        token_id: str,
        token_sha256: str,
        user_id: str,
        label: str,
        created_at: datetime,
        expires_at: datetime | None,
    ) -> None:
        with self._tx(write=True) as tx:
            if tx.one("SELECT 1 AS x FROM users WHERE user_id = ?", (user_id,)) is None:
                raise NotFoundError("no such user", field="user_id", got=user_id)
            tx.execute(
                "INSERT INTO tokens (token_id, token_sha256, user_id, label, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    token_sha256,
                    user_id,
                    label,
                    to_us(created_at),
                    opt_us(expires_at),
                ),
            )

    def list_tokens(self, user_id: str | None = None) -> list[TokenInfo]:
        sql = "SELECT * FROM tokens"
        params: tuple[Any, ...] = ()
        if user_id is not None:
            sql += " WHERE user_id = ?"
            params = (user_id,)
        with self._tx(write=False) as tx:
            rows = tx.all(sql + " ORDER BY created_at, token_id", params)
        return [
            TokenInfo(
                token_id=r["token_id"],
                user_id=r["user_id"],
                label=r["label"],
                created_at=from_us(int(r["created_at"])),
                expires_at=opt_dt(r["expires_at"]),
                revoked_at=opt_dt(r["revoked_at"]),
            )
            for r in rows
        ]

    def revoke_token(self, token_id: str, now: datetime) -> bool:
        with self._tx(write=True) as tx:
            n = tx.execute(
                "UPDATE tokens SET revoked_at = ?"
                " WHERE token_id = ? AND revoked_at IS NULL",
                (to_us(now), token_id),
            )
        return n == 1

    def principal_for_token(self, token_sha256: str, now: datetime) -> Principal | None:
        with self._tx(write=False) as tx:
            row = tx.one(
                "SELECT u.user_id, u.role, u.name, u.county_id, u.site_id"
                " FROM tokens t JOIN users u ON u.user_id = t.user_id"
                " WHERE t.token_sha256 = ? AND t.revoked_at IS NULL"
                " AND (t.expires_at IS NULL OR t.expires_at > ?)",
                (token_sha256, to_us(now)),
            )
        if row is None:
            return None
        return Principal(
            user_id=row["user_id"],
            role=Role(row["role"]),
            name=row["name"],
            county_id=row["county_id"],
            site_id=row["site_id"],
        )
