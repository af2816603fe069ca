"""Wait for a child process's ``ready`` line on stderr (``ecg-central serve`` prints one).

Shared by the test harnesses and the benchmarks that start real central readers.
"""

from __future__ import annotations

import subprocess
import threading
import time

__all__ = ["wait_ready"]


def wait_ready(
    proc: subprocess.Popen[str], log: list[str], timeout_s: float
) -> threading.Thread:
    """Copy ``proc``'s stderr lines into ``log`` for the process's life (a daemon thread,
    returned) and block until one line is exactly ``ready``.

    Raises ``RuntimeError`` with the last lines of the log when the process exits or
    ``timeout_s`` passes first.
    """
    stream = proc.stderr
    assert stream is not None, "start the process with stderr=subprocess.PIPE"
    ready = threading.Event()

    def pump() -> None:
        for line in stream:
            log.append(line.rstrip())
            if line.strip() == "ready":
                ready.set()
        stream.close()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not ready.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(log[-20:])
            raise RuntimeError(f"process {proc.args!r} did not become ready:\n{tail}")
    return thread
