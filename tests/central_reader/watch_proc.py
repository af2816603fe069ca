"""``ecg-central alerts watch --json`` as a real subprocess; its lines, time-stamped."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

from tests._ready import wait_ready
from tests.central_reader.serve_proc import BIN, free_port


class CentralServe:
    """``ecg-central serve --dev --insecure`` on a fixed port (restartable, killable)."""

    def __init__(self, db: str, tokens: Path, *extra: str, port: int | None = None) -> None:
        self.db = db
        self.tokens_file = tokens
        self.extra = extra
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> CentralServe:
        self.proc = subprocess.Popen(
            [
                str(BIN / "ecg-central"),
                "serve",
                "--db",
                self.db,
                "--listen",
                self.target,
                "--http",
                "127.0.0.1:0",
                "--insecure",
                "--dev",
                "--dev-tokens",
                str(self.tokens_file),
                "--grace",
                "1",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1"),
        )
        try:
            wait_ready(self.proc, self.log, timeout_s)
        except RuntimeError:
            self.stop()
            raise
        return self

    def token(self, role: str) -> str:
        return str(json.loads(self.tokens_file.read_text(encoding="utf-8"))[role])

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed or closed."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None


class WatchProcess:
    """A hospital desk: ``ecg-central alerts watch --server ... --hospital ... --json``."""

    def __init__(self, server: str, hospital: str, token: str, *extra: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", ECG_CENTRAL_TOKEN=token)
        self.proc = subprocess.Popen(
            [
                str(BIN / "ecg-central"),
                "alerts",
                "watch",
                "--server",
                server,
                "--hospital",
                hospital,
                "--insecure",
                "--json",
                "--who",
                "desk-test",
                *extra,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[tuple[float, dict[str, object]]] = queue.Queue()
        self.stderr: list[str] = []
        self._out = threading.Thread(target=self._read_out, daemon=True)
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._out.start()
        self._err.start()

    def wait_subscribed(self, timeout_s: float = 30.0, times: int = 1) -> WatchProcess:
        """Wait until the desk has (re)subscribed ``times`` times in all."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if sum("subscribed to " in line for line in self.stderr) >= times:
                return self
            time.sleep(0.05)
        raise AssertionError(f"not subscribed {times}x: {self.stderr[-10:]}")

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), json.loads(line)))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def next(self, timeout_s: float = 10.0) -> tuple[float, dict[str, object]]:
        try:
            return self.lines.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(
                f"watch printed nothing within {timeout_s} s; stderr: {self.stderr[-10:]}"
            ) from None

    def nothing_for(self, seconds: float) -> list[dict[str, object]]:
        """Lines printed within ``seconds`` (expected: none)."""
        out = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self.lines.get(timeout=left)[1])
            except queue.Empty:
                break
        return out

    def key(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def wait_stderr(self, needle: str, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(needle in line for line in self.stderr):
                return
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not on stderr: {self.stderr[-10:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            for s in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass


def write_dev_alert_config(
    path: Path, *, codes: str = '"STEMI"', priority: str = "critical"
) -> Path:
    """Routes the development county to ``dev-cpc`` with backup ``dev-oncall``."""
    path.write_text(
        f"""
[alerts]
codes = [{codes}]
min_priority = "{priority}"
resend_after_s = 600
escalate_after_s = 1200

[hospitals.dev-cpc]
county = "dev-county"
name = "Development chest-pain centre"

[hospitals.dev-oncall]
county = "dev-county"
name = "Development on-call"

[[routes]]
county = "dev-county"
hospital = "dev-cpc"
backup = "dev-oncall"
""",
        encoding="utf-8",
    )
    return path


__all__ = ["CentralServe", "WatchProcess", "free_port", "write_dev_alert_config"]
