"""Path traversal and odd file names: the HTTP static route and API, ``ecg-edge submit``.

Against a real ``ecg-central serve`` process: traversal in every spelling is refused
(4xx, nothing outside the allow-list served), hostile record ids in the API are refused,
and ``ecg-edge submit`` given odd names (traversal, newline, leading dash, a symlink to
/etc/passwd, a directory, a missing file) names each bad file in one error line, queues
the good record beside them and exits 2 without a traceback. The service still serves.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile_central import ROOT, HostileCentral

SECRETS = (b"[project]", b"root:x:0", b"def main(", b"BEGIN PRIVATE KEY")


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileCentral]:
    c = HostileCentral(tmp_path_factory.mktemp("paths")).start()
    yield c
    assert c.stop() == 0, c.log[-20:]


def _get(c: HostileCentral, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        if token:
            conn.putheader("Authorization", f"Bearer {token}")
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", [
    "/static/../../pyproject.toml",
    "/static/..%2f..%2fpyproject.toml",
    "/static/%2e%2e/%2e%2e/central_reader/cli.py",
    "/static/%2E%2E%2F%2E%2E%2Fpyproject.toml",
    "/static//etc/passwd",
    "/static/..\\..\\pyproject.toml",
    "/static/....//....//etc/passwd",
    "/static/%00",
    "/static/app.js%00.png",
    "/../../../../etc/passwd",
    "/static/" + "a/" * 2000,
])
def test_static_route_refuses_traversal(central: HostileCentral, path: str) -> None:
    status, body = _get(central, path)
    assert 400 <= status < 500, f"{path[:60]}: HTTP {status}"
    leaked = [s for s in SECRETS if s in body]
    assert not leaked, f"{path[:60]} served {leaked}"


@pytest.mark.parametrize("rid", ["..%2f..%2fx", "../../x", "%2e%2e", "x" * 5000, "%00"])
def test_api_refuses_hostile_record_ids(central: HostileCentral, rid: str) -> None:
    status, body = _get(central, f"/api/v1/records/{rid}", central.tokens["reader"])
    assert status in (400, 404), f"record id {rid[:40]!r}: HTTP {status}"
    doc = json.loads(body)
    assert doc, f"no error body for {rid[:40]!r}"
    status, _ = _get(central, f"/api/v1/records/{rid}")
    assert status in (401, 404, 400), f"unauthenticated {rid[:40]!r}: HTTP {status}"


def test_api_wrong_role_and_no_token(central: HostileCentral) -> None:
    assert _get(central, "/api/v1/queue")[0] == 401, "queue without a token"
    status, _ = _get(central, "/api/v1/queue", "ecgt_000000000000_forged")
    assert status == 401, f"forged token: HTTP {status}"
    status, _ = _get(central, "/api/v1/queue", central.tokens["device"])
    assert status == 403, f"device token on the reading queue: HTTP {status}"


def test_edge_submit_with_odd_names(central: HostileCentral, tmp_path: Path) -> None:
    good = tmp_path / "in"
    good.mkdir()
    for f in (ROOT / "sample_records").glob("00001_hr.*"):
        shutil.copy2(f, good / f.name)
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "-rf.hea").write_text("not a header\n")
    (odd / "new\nline.hea").write_text("x 12 500 5000\n")
    (odd / "evil.hea").symlink_to("/etc/passwd")
    (odd / "dir.hea").mkdir()
    names = [str(good / "00001_hr.hea"), str(odd / "-rf.hea"),
             str(odd / "new\nline.hea"), str(odd / "evil.hea"),
             str(odd / "dir.hea"), str(odd / ".." / ".." / "nope.hea"),
             str(tmp_path / "in" / ".." / ".." / ".." / "etc" / "passwd")]
    out = subprocess.run(
        [sys.executable, "-m", "edge_agent", "submit", *names,
         "--server", f"127.0.0.1:{central.port}", "--outbox", str(tmp_path / "o.sqlite"),
         "--site", "site-a1", "--device", "dev-a1", "--insecure", "--no-model",
         "--wait", "--timeout", "60"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "ECG_EDGE_TOKEN": central.tokens["device"],
             "OMP_NUM_THREADS": "1"},
    )
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 2, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    queued = [x for x in out.stdout.splitlines() if x.startswith("queued ")]
    assert len(queued) == 1 and "00001_hr" in queued[0], out.stdout
    errors = [x for x in out.stderr.splitlines() if "error" in x]
    for bad in ("-rf.hea", "evil.hea", "nope.hea", "passwd"):
        assert any(bad in e for e in errors), f"no error naming {bad}: {errors}"
    assert "root:x:0" not in out.stdout + out.stderr, "file content echoed"
    central.assert_serving()
