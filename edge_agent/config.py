"""Agent configuration: one TOML file plus ``ECG_EDGE_*`` environment variables.

Read once at startup by :func:`load_config`, through an injectable ``environ`` mapping (as
starlette's ``Config`` does), and never again: the rest of the agent receives a frozen
:class:`EdgeConfig`. Precedence, lowest first: built-in defaults, the TOML file, the
environment, command-line flags (applied by the CLI with :meth:`EdgeConfig.with_overrides`).

The defaults run out of the box against a local central reader on ``127.0.0.1:50051``
(TLS stays the default; a plaintext link needs ``insecure = true`` / ``--insecure``).

Example ``ecg-edge.toml``::

    server = "county-centre.example:50051"
    site_id = "township-07"
    device_id = "cart-2"
    outbox = "/var/lib/ecg-edge/outbox.sqlite"
    tls_ca = "/etc/ecg-edge/county-ca.pem"
    max_outbox_bytes = 2_000_000_000

Every key can also come from ``ECG_EDGE_<KEY>`` (``ECG_EDGE_SERVER``,
``ECG_EDGE_TOKEN``...); the TOML file itself is found by ``--config`` or
``ECG_EDGE_CONFIG``.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError

__all__ = ["ENV_PREFIX", "ConfigError", "EdgeConfig", "default_outbox_path", "load_config"]

ENV_PREFIX = "ECG_EDGE_"


def default_outbox_path(environ: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/ecg-edge/outbox.sqlite`` (``~/.local/share`` when unset)."""
    home = Path(environ.get("HOME", "~"))
    base = environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return Path(base).expanduser() / "ecg-edge" / "outbox.sqlite"


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    """Everything the agent needs to run; durations in seconds, sizes in bytes."""

    server: str = "127.0.0.1:50051"
    site_id: str = "site-local"
    device_id: str = dataclasses.field(default_factory=lambda: socket.gethostname())
    outbox: Path = Path("ecg-edge-outbox.sqlite")
    insecure: bool = False
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token: str | None = None
    rpc_timeout_s: float = 10.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0
    max_attempts_internal: int = 20
    upload_batch: int = 32
    upload_lease_s: float = 60.0
    max_outbox_bytes: int = 2 * 1024**3
    outbox_alarm_fraction: float = 0.9
    keep_sent_waveforms: bool = False
    watch_interval_s: float = 1.0
    watch_settle_s: float = 1.0
    reports: bool = True
    reports_stream_s: float = 60.0

    def __post_init__(self) -> None:
        if ":" not in self.server:
            raise ConfigError("server must be HOST:PORT", got=repr(self.server))
        if not self.site_id:
            raise ConfigError("site_id must not be empty")
        positive = ("rpc_timeout_s", "backoff_initial_s", "backoff_max_s",
                    "upload_lease_s", "watch_interval_s", "reports_stream_s")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive", got=str(getattr(self, name)))
        if self.backoff_max_s < self.backoff_initial_s:
            raise ConfigError(
                "backoff_max_s must be >= backoff_initial_s",
                got=f"{self.backoff_max_s} < {self.backoff_initial_s}",
            )
        if self.max_outbox_bytes <= 0 or not 0 < self.outbox_alarm_fraction <= 1:
            raise ConfigError(
                "outbox budget must be positive with an alarm fraction in (0, 1]",
                got=f"{self.max_outbox_bytes} bytes, alarm {self.outbox_alarm_fraction}",
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key go together (per-device certificate)")

    def with_overrides(self, **values: Any) -> EdgeConfig:
        """A validated copy with the non-``None`` ``values`` (CLI flags) applied."""
        changes = {k: _cast(k, v) for k, v in values.items() if v is not None}
        return dataclasses.replace(self, **changes)


_FIELDS = {f.name: f for f in fields(EdgeConfig)}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _cast(key: str, value: Any) -> Any:
    if key not in _FIELDS:
        raise ConfigError("unknown configuration key", got=repr(key),
                          expected=", ".join(sorted(_FIELDS)))
    kind = str(_FIELDS[key].type)
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(str(value).replace("_", ""))
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if kind.startswith("Path"):
            if value in ("", None) and "None" in kind:
                return None
            return Path(str(value)).expanduser()
        if kind == "str | None":
            return None if value in ("", None) else str(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(
            "configuration value of the wrong type", got=f"{key}={value!r}", expected=kind
        ) from None


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> EdgeConfig:
    """Build the configuration from defaults, the TOML file and the environment.

    Parameters
    ----------
    path : str or Path, optional
        TOML file; falls back to ``ECG_EDGE_CONFIG``; no file means defaults + environment.
    environ : Mapping[str, str], optional
        The environment (``os.environ`` by default); only ``ECG_EDGE_*`` keys are read.

    Raises
    ------
    ConfigError
        The file is missing or not TOML, a key is unknown, or a value has the wrong type.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {"outbox": default_outbox_path(env)}
    path = path or env.get(f"{ENV_PREFIX}CONFIG") or None
    if path is not None:
        p = Path(path).expanduser()
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("configuration file not found", path=str(p)) from None
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read configuration: {exc}", path=str(p)) from None
        section = data.get("edge", data)
        if not isinstance(section, dict):
            raise ConfigError("[edge] must be a table", path=str(p))
        for key, value in section.items():
            try:
                values[key] = _cast(key, value)
            except ConfigError as exc:
                raise ConfigError(exc.message, path=str(p), got=exc.got,
                                  expected=exc.expected) from None
    for key in _FIELDS:
        raw = env.get(f"{ENV_PREFIX}{key.upper()}")
        if raw is not None:
            values[key] = _cast(key, raw)
    return EdgeConfig(**values)
