"""Run ``ecg-central serve`` as a real subprocess and wait for its ``ready`` line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """``ecg-central serve --db URL --listen 127.0.0.1:P --http 127.0.0.1:Q --insecure``."""

    def __init__(self, db: str, *extra: str) -> None:
        self.port = free_port()
        self.http_port = free_port()
        self.stderr_lines: list[str] = []
        self._ready = threading.Event()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [
                str(BIN / "ecg-central"),
                "serve",
                "--db",
                db,
                "--listen",
                f"127.0.0.1:{self.port}",
                "--http",
                f"127.0.0.1:{self.http_port}",
                "--insecure",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))
            if line.rstrip("\n") == "ready":
                self._ready.set()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve not ready: {self.stderr_lines}")

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self._reader.join(5)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
