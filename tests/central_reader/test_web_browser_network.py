"""The whole journey on the real local network (what ``make run`` starts): the central, the
alert desk and two township carts as real processes; the cardiologist signs in with the
token the network prints, reads the critical STEMI first, signs it in chromium; the report
lands in that township's outbox: the network says so, and ``ecg-edge reports`` shows it.

LUDB 21 is raised as a STEMI by the bundled STEMI feature model (one of its training
patients: this checks the plumbing, not the model).
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.central_reader.web_support import (
    ARTIFACTS,
    BROWSER_MARKS,
    ROOT,
    chromium,
)

pytestmark = BROWSER_MARKS
# skips the module when the playwright package is not installed
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


class Lines:
    """The network's stdout, line by line, read in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        self._t = threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True)
        self._t.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.q.put(line.rstrip("\n"))

    def close(self, proc: subprocess.Popen[str]) -> None:
        """After the process ended: the pump has read to EOF; close the pipe."""
        self._t.join(10)
        assert proc.stdout is not None
        proc.stdout.close()

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        rx = re.compile(pattern)
        for line in self.seen:
            m = rx.search(line)
            if m:
                return m
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            m = rx.search(line)
            if m:
                return m
        raise AssertionError(
            f"no line matching {pattern!r} in {timeout_s} s:\n" + "\n".join(self.seen)
        )


@pytest.fixture()
def network(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Lines, Path]]:
    records = tmp_path / "records"
    records.mkdir()
    for stem in ("00001_hr", "21"):
        for f in (ROOT / "sample_records").glob(stem + ".*"):
            shutil.copy2(f, records / f.name)
    workdir = tmp_path / "net"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "central_reader",
            "network",
            "--workdir",
            str(workdir),
            "--records",
            str(records),
            "--sites",
            "township-a,township-b",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = Lines(proc)
    try:
        yield proc, lines, workdir
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait(10)
        lines.close(proc)


def test_signed_report_reaches_the_township(
    network: tuple[subprocess.Popen[str], Lines, Path],
) -> None:
    proc, lines, workdir = network
    url = lines.wait_for(r"reading page\s+(http://\S+)", 120)[1]
    token = lines.wait_for(r"reader token\s+(ecgt_\S+)", 10)[1]
    lines.wait_for(r"all 2 records are at the central", 180)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        page.fill("#token-input", token)
        page.click("#signin-button")
        page.wait_for_selector("#queue-body tr")
        rows = page.eval_on_selector_all(
            "#queue-body tr",
            "rs => rs.map(r => [r.dataset.recordId, r.dataset.priority,"
            " r.querySelector('td.site').innerText, r.innerText])",
        )
        assert len(rows) == 2, rows
        rid, prio, site, text = rows[0]
        assert prio == "critical" and "急性ST段抬高型心肌梗死" in text, rows
        assert rows[1][1] == "routine", rows
        page.click(f'#queue-body tr[data-record-id="{rid}"]')
        page.wait_for_selector(f'body[data-opened-record="{rid}"]', state="attached")
        stemi = page.get_attribute(
            '#findings-list li[data-code="STEMI"]', "data-sources"
        )
        assert stemi == "model", f"STEMI source shown as {stemi!r}"
        page.keyboard.press("c")
        page.fill("#free-text", "V2-V4 ST段抬高，请立即转诊胸痛中心")
        page.focus("#free-text")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector('#signature[data-signed="true"]')
        conclusion = page.input_value("#conclusion")
        page.screenshot(path=str(ARTIFACTS / "web_network_signed.png"), full_page=True)
        assert not errors, errors
    assert "急性ST段抬高型心肌梗死" in conclusion, conclusion
    seen = lines.wait_for(
        rf"\[{site}\] report v1 for record {rid} at the cart, signed by"
        r" (.+?): (.*)$",
        30,
    )
    assert seen[1] == "Development cardiologist" and seen[2] == conclusion, seen.groups()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_agent",
            "reports",
            "--outbox",
            str(workdir / "sites" / site / "outbox.sqlite"),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    reports = json.loads(out)
    assert [(r["record_id"], r["version"]) for r in reports] == [(rid, 1)], reports
    report = reports[0]["report"]
    assert reports[0]["conclusion"] == conclusion, reports[0]
    assert "请立即转诊胸痛中心" in report["free_text"], report
    codes = [f["code"] for f in report["findings"]]
    assert "STEMI" in codes, codes
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0, "\n".join(lines.seen)
