"""Alert configuration: which findings alert, site -> chest-pain centre routing, the ladder.

One TOML (or JSON) file, the same on every central instance::

    [alerts]
    codes = ["STEMI"]            # finding codes that raise an alert
    min_priority = "critical"    # the record's triage priority must be at least this
    resend_after_s = 120         # ladder step 1: not acknowledged -> re-sent, escalated
    escalate_after_s = 300       # ladder step 2: -> backup hospital / on-call desk
    fallback_hospital = "city-oncall"  # optional: sites no route matches alert here

    [hospitals.county-a-cpc]     # a chest-pain centre (its id is what desks subscribe to)
    county = "county-a"          # hospital users of this county may subscribe
    name = "County A People's Hospital chest-pain centre"

    [hospitals.city-oncall]
    county = "city"
    name = "City cath-lab on-call"

    [[routes]]                   # first match wins: sites listed, then a county default
    sites = ["site-a1", "site-a2"]
    hospital = "county-a-cpc"
    backup = "city-oncall"

    [[routes]]
    county = "county-a"
    hospital = "county-a-cpc"
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from central_reader.errors import ConfigError
from central_reader.types import Priority

__all__ = ["AlertConfig", "Hospital", "Ladder", "Route", "load_config"]


@dataclass(frozen=True, slots=True)
class Hospital:
    """A chest-pain centre or on-call desk that receives alerts."""

    hospital_id: str
    county_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Route:
    """Sites (or a whole county) -> primary hospital and optional backup."""

    hospital_id: str
    backup_id: str | None
    sites: frozenset[str] = frozenset()
    county_id: str | None = None


@dataclass(frozen=True, slots=True)
class Ladder:
    """Escalation: re-send after ``resend_after_s``, backup after ``escalate_after_s``."""

    resend_after_s: float = 120.0
    escalate_after_s: float = 300.0


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Everything the alert service needs to decide, route and escalate.

    Parameters
    ----------
    codes
        Finding codes that raise an alert.
    min_priority
        Least urgent record priority that may alert (``critical`` by default).
    ladder
        Escalation timing.
    hospitals
        Known hospitals by id.
    routes
        Routing rules, first match wins (site lists before county defaults).
    """

    codes: frozenset[str] = frozenset({"STEMI"})
    min_priority: Priority = Priority.CRITICAL
    ladder: Ladder = field(default_factory=Ladder)
    hospitals: Mapping[str, Hospital] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    fallback_hospital: str | None = None

    def alert_codes(self, priority: Priority, codes: list[str]) -> list[str]:
        """The alerting codes of a record's findings ([] when the record does not alert)."""
        if priority.rank > self.min_priority.rank:
            return []
        return sorted({c for c in codes if c in self.codes})

    def route(self, site_id: str, county_id: str) -> Route | None:
        """The route serving a site: an explicit site entry, else its county's default."""
        for route in self.routes:
            if site_id in route.sites:
                return route
        for route in self.routes:
            if not route.sites and route.county_id == county_id:
                return route
        if self.fallback_hospital is not None:
            return Route(self.fallback_hospital, None)
        return None

    def hospital(self, hospital_id: str) -> Hospital | None:
        return self.hospitals.get(hospital_id)


def _str(
    d: Mapping[str, Any], key: str, where: str, *, required: bool = True
) -> str | None:
    value = d.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty string", field=key)
    return value


def _seconds(d: Mapping[str, Any], key: str, default: float) -> float:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(
            f"alerts.{key} must be a positive number of seconds", field=key, got=str(value)
        )
    return float(value)


def parse_config(data: Mapping[str, Any]) -> AlertConfig:
    """Build an :class:`AlertConfig` from the decoded file (see the module docstring)."""
    section = data.get("alerts", {})
    if not isinstance(section, Mapping):
        raise ConfigError("[alerts] must be a table", field="alerts")
    codes = section.get("codes", ["STEMI"])
    if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
        raise ConfigError("alerts.codes must be a list of finding codes", field="codes")
    try:
        min_priority = Priority(section.get("min_priority", "critical"))
    except ValueError as exc:
        raise ConfigError(
            "alerts.min_priority is not a priority",
            field="min_priority",
            expected=", ".join(p.value for p in Priority),
            got=str(section.get("min_priority")),
        ) from exc
    ladder = Ladder(
        resend_after_s=_seconds(section, "resend_after_s", 120.0),
        escalate_after_s=_seconds(section, "escalate_after_s", 300.0),
    )
    if ladder.escalate_after_s <= ladder.resend_after_s:
        raise ConfigError(
            "alerts.escalate_after_s must be greater than resend_after_s",
            field="escalate_after_s",
        )
    hospitals: dict[str, Hospital] = {}
    raw_h = data.get("hospitals", {})
    if not isinstance(raw_h, Mapping):
        raise ConfigError("[hospitals] must be a table of tables", field="hospitals")
    for hid, h in raw_h.items():
        if not isinstance(h, Mapping):
            raise ConfigError(f"hospitals.{hid} must be a table", field="hospitals")
        county = _str(h, "county", f"hospitals.{hid}")
        assert county is not None  # noqa: S101 - required
        hospitals[hid] = Hospital(hid, county, str(h.get("name", hid)))
    routes: list[Route] = []
    raw_r = data.get("routes", [])
    if not isinstance(raw_r, list):
        raise ConfigError("[[routes]] must be an array of tables", field="routes")
    for i, r in enumerate(raw_r):
        where = f"routes[{i}]"
        if not isinstance(r, Mapping):
            raise ConfigError(f"{where} must be a table", field="routes")
        hospital = _str(r, "hospital", where)
        backup = _str(r, "backup", where, required=False)
        for hid in (hospital, backup):
            if hid is not None and hid not in hospitals:
                raise ConfigError(f"{where}: unknown hospital", field="hospital", got=hid)
        sites = r.get("sites", [])
        if not isinstance(sites, list) or not all(isinstance(s, str) for s in sites):
            raise ConfigError(f"{where}: sites must be a list of site ids", field="sites")
        county = _str(r, "county", where, required=False)
        if not sites and county is None:
            raise ConfigError(f"{where}: needs sites or county", field="routes")
        assert hospital is not None  # noqa: S101 - required
        routes.append(Route(hospital, backup, frozenset(sites), county))
    fallback = _str(section, "fallback_hospital", "alerts", required=False)
    if fallback is not None and fallback not in hospitals:
        raise ConfigError(
            "alerts.fallback_hospital: unknown hospital",
            field="fallback_hospital",
            got=fallback,
        )
    return AlertConfig(
        codes=frozenset(codes),
        min_priority=min_priority,
        ladder=ladder,
        hospitals=hospitals,
        routes=tuple(routes),
        fallback_hospital=fallback,
    )


def load_config(path: Path) -> AlertConfig:
    """Read a ``.toml`` or ``.json`` alert configuration file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read alert config: {exc}", field="alerts_config"
        ) from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"alert config {path} is not valid: {exc}", field="alerts_config"
        ) from exc
    if not isinstance(data, Mapping):
        raise ConfigError("alert config must be a table/object", field="alerts_config")
    return parse_config(data)
