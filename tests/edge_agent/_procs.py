"""The real central reader as a separate process, for the edge agent's integration tests.

``ecg-central serve --db sqlite:///... --listen 127.0.0.1:PORT --insecure --dev`` (the dev
bootstrap lets an anonymous call act as the county gateway device and auto-registers
sites), ready once it prints ``ready`` on stderr. Records at the central are read back
with ``ecg-central queue --db ... --json``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests._ready import wait_ready

ROOT = Path(__file__).resolve().parents[2]


def _analysis_import_error() -> str | None:
    try:
        import edge_agent.analysis  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


#: ``ecg-edge submit``/``watch`` analyse every record: these tests need the signal core.
_ERR = _analysis_import_error()
needs_analysis = pytest.mark.skipif(
    _ERR is not None, reason=f"edge_agent.analysis not importable yet: {_ERR}"
)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def central_cmd(*args: str) -> list[str]:
    """``ecg-central`` through the current interpreter."""
    return [sys.executable, "-c", "from central_reader.cli import main; "
            "raise SystemExit(main())", *args]


class CentralProcess:
    """A real ``ecg-central serve`` on loopback, restartable on the same port and DB."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.db = f"sqlite:///{workdir / 'central.sqlite'}"
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> CentralProcess:
        """Start and wait for the ``ready`` line."""
        self.proc = subprocess.Popen(
            central_cmd("serve", "--db", self.db, "--listen", self.target,
                        "--http", "127.0.0.1:0", "--insecure", "--dev", "--grace", "1"),
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        try:
            self._pump = wait_ready(self.proc, self.log, timeout_s)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._pump.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def queue(self) -> list[dict[str, object]]:
        """``ecg-central queue --json`` (every queued record, queue order)."""
        out = subprocess.run(
            central_cmd("queue", "--db", self.db, "--json", "--limit", "100000"),
            capture_output=True, text=True, cwd=ROOT, timeout=120, check=True,
        )
        return list(json.loads(out.stdout))

    def record_ids(self) -> list[str]:
        """Record ids at the central (with repeats, if there ever were any)."""
        return [str(r["record_id"]) for r in self.queue()]


class StubCentralProcess:
    """``tests.edge_agent._central`` as a process: a minimal Ingest server that can delay
    its ack after the commit (``ack_delay_s``), to widen the window in which a killed
    client loses an ack the central already committed."""

    def __init__(self, workdir: Path, *, ack_delay_s: float) -> None:
        self.workdir = workdir
        self.db = workdir / "stub-central.sqlite"
        self.ack_delay_s = ack_delay_s
        self.port = free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> StubCentralProcess:
        """Start and wait for ``ready``."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.edge_agent._central", "--db", str(self.db),
             "--port", str(self.port), "--ack-delay", str(self.ack_delay_s)],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"stub central did not start: {line!r}")
        return self

    def stop(self) -> None:
        """SIGKILL (it keeps nothing in memory) and close the pipe."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=15)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None

    def record_ids(self) -> list[str]:
        """Record ids the stub committed."""
        import sqlite3

        db = sqlite3.connect(str(self.db))
        try:
            return [r[0] for r in db.execute("SELECT record_id FROM records")]
        finally:
            db.close()
