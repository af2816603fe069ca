"""The reading station's HTTP routes over the real service, store (SQLite file) and HTTP
server (``central_reader.http`` in a thread), without a browser: authorization, county
scope, validation, the claim/sign/amend flow, the waveform round trip, static files."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ecgnet.codec import decode_waveform

from central_reader import serde
from central_reader.http import HttpApp, HttpServer, start_http
from central_reader.service import ReadingService, ServiceConfig
from central_reader.store import open_store
from central_reader.types import Role
from central_reader.web import register_routes, statements
from tests.central_reader.web_support import SAMPLES_TO_SUBMIT, submit_request

LEADS12 = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


@dataclass
class Env:
    server: HttpServer
    service: ReadingService
    tokens: dict[str, str]
    earlier: str
    current: str
    originals: dict[str, Any]
    priorities: dict[str, str]

    def call(self, method: str, path: str, *, who: str | None = "reader",
             body: Any = None, raw: bytes | None = None) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        data = raw
        if data is None and body is not None:
            data = json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        conn.close()
        ctype = hdrs.get("content-type", "")
        return resp.status, hdrs, json.loads(payload) if "json" in ctype else payload


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("web")
    store = open_store(f"sqlite:///{tmp / 'central.sqlite'}")
    service = ReadingService(store, config=ServiceConfig())
    store.add_county("county-a", "County A")
    store.add_county("county-b", "County B")
    store.add_site("site-xiangyang", "county-a", "Xiangyang")
    users = {
        "device": ("gw-a", Role.DEVICE, "county-a"),
        "reader": ("dr-li", Role.CARDIOLOGIST, "county-a"),
        "reader2": ("dr-wang", Role.CARDIOLOGIST, "county-a"),
        "hospital": ("cpc-a", Role.HOSPITAL, "county-a"),
        "other_county": ("dr-zhao", Role.CARDIOLOGIST, "county-b"),
    }
    tokens = {}
    for key, (uid, role, county) in users.items():
        service.create_user(uid, role=role, name=f"Dr {uid}", county_id=county)
        tokens[key] = service.issue_token(uid)[1]
    device = service.authenticate(tokens["device"])
    now = datetime.now(UTC)
    ids, originals, priorities = [], {}, {}
    for sample in SAMPLES_TO_SUBMIT[:2]:  # the same patient: earlier normal, then STEMI
        req, analysis = submit_request(sample, now)
        service.submit(device, serde.record_from_proto(req))
        ids.append(req.record_id)
        originals[req.record_id] = req.waveform
        priorities[req.record_id] = analysis["triage"]["priority"]
    server = start_http_app(service)
    yield Env(server, service, tokens, ids[0], ids[1], originals, priorities)
    server.stop()
    store.close()


def start_http_app(
    service: ReadingService, alert_codes: frozenset[str] = frozenset()
) -> HttpServer:
    app = HttpApp(service, service.metrics)
    register_routes(app, alert_codes=alert_codes)
    return start_http(app, "127.0.0.1:0")


def test_session_names_the_alerting_codes_of_the_central(env: Env) -> None:
    # the page warns before a signed report drops one of these (it cancels the alert)
    server = start_http_app(env.service, frozenset({"VT", "STEMI"}))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/api/v1/session",
                     headers={"Authorization": f"Bearer {env.tokens['reader']}"})
        body = json.loads(conn.getresponse().read())
        conn.close()
    finally:
        server.stop()
    assert body["alert_codes"] == ["STEMI", "VT"], body


def test_vocabulary_covers_triage_codes_and_common_statements() -> None:
    vocab = {s.code: s for s in statements()}
    needed = {
        "STEMI", "AF", "VT", "AVB3", "PAUSE", "BRADY", "TACHY", "PVC", "LBBB", "RBBB",
        "LQT", "NOISE", "NORMAL", "SINUS_RHYTHM", "SINUS_TACHY", "SINUS_BRADY", "AVB1",
        "LVH", "ST_DEPRESSION", "T_INVERSION", "MI_OLD",
    }
    assert needed <= set(vocab), f"missing statements: {sorted(needed - set(vocab))}"
    assert len(vocab) == len(statements()), "duplicate statement codes"
    for s in vocab.values():
        assert s.label_en and s.label_zh, f"{s.code} lacks a label: {s}"
        assert any("\u4e00" <= ch <= "\u9fff" for ch in s.label_zh), f"{s.label_zh}"
    assert vocab["STEMI"].priority.value == "critical", vocab["STEMI"]
    assert vocab["NORMAL"].priority.value == "routine", vocab["NORMAL"]
    assert vocab["AVB3"].priority.value == "critical", vocab["AVB3"]
    assert vocab["AFL"].priority.value == "warning", vocab["AFL"]


def test_page_static_files_and_headers(env: Env) -> None:
    status, headers, body = env.call("GET", "/", who=None)
    assert status == 200 and headers["content-type"].startswith("text/html"), headers
    assert b'<script type="module" src="/static/app.js">' in body, body[:200]
    assert "script-src 'self'" in headers["content-security-policy"], headers
    assert headers["x-content-type-options"] == "nosniff", headers
    for name, ctype in (("app.js", "text/javascript"), ("ecg-paper.js", "text/javascript"),
                        ("i18n.js", "text/javascript"), ("style.css", "text/css")):
        status, headers, body = env.call("GET", f"/static/{name}", who=None)
        assert status == 200 and headers["content-type"].startswith(ctype), (name, headers)
        assert len(body) > 1000, f"{name} is {len(body)} bytes"
    for bad in ("/static/../routes.py", "/static/routes.py", "/static/%2e%2e/routes.py",
                "/static/", "/static/nope.js"):
        status, _, _ = env.call("GET", bad, who=None)
        assert status == 404, f"{bad} answered {status}"


def test_api_needs_a_reader_token(env: Env) -> None:
    status, _, body = env.call("GET", "/api/v1/queue", who=None)
    assert status == 401 and body["error"] == "AuthenticationError", body
    env.tokens["bogus"] = "ecgt_000000000000_nope"
    status, _, body = env.call("GET", "/api/v1/queue", who="bogus")
    assert status == 401, body
    status, _, body = env.call("GET", "/api/v1/queue", who="device")
    assert status == 403 and body["error"] == "PermissionDeniedError", body
    status, _, body = env.call("GET", "/api/v1/queue", who="hospital")
    assert status == 403, body
    status, _, body = env.call("POST", f"/api/v1/records/{env.current}/claim",
                               who="hospital")
    assert status == 403, body
    status, _, body = env.call("GET", "/api/v1/session")
    assert status == 200 and body["user_id"] == "dr-li" and body["role"] == "cardiologist"
    assert body["alert_codes"] == [], "no alerts service in this harness: nothing alerts"
    status, headers, _ = env.call("GET", "/api/v1/session")
    assert headers["cache-control"] == "no-store", headers


def test_queue_items_in_order_with_page_fields(env: Env) -> None:
    status, _, body = env.call("GET", "/api/v1/queue?include_claimed=1&limit=50")
    assert status == 200, body
    items = body["items"]
    ids = [i["record_id"] for i in items]
    assert set(ids) >= {env.current, env.earlier}, ids
    rank = {"critical": 0, "warning": 1, "unreadable": 2, "routine": 3}
    tiers = [rank[i["priority"]] for i in items]
    assert tiers == sorted(tiers), f"not in tier order: {[i['priority'] for i in items]}"
    first = items[ids.index(env.current)]
    assert first["priority"] == env.priorities[env.current], first
    for key in ("site_id", "patient", "acquired_at", "received_at", "deadline", "status",
                "overdue", "findings", "claimed_by"):
        assert key in first, f"queue item lacks {key}: {first}"
    assert first["patient"]["pseudo_id"] == "P-0021", first["patient"]
    assert first["findings"][0]["label_zh"], first["findings"]
    earlier = items[ids.index(env.earlier)]
    assert earlier["overdue"] is True, f"a 2-day-old routine record is overdue: {earlier}"
    status, _, body = env.call("GET", "/api/v1/queue?limit=abc")
    assert status == 400, body


def test_record_waveform_round_trip_and_previous(env: Env) -> None:
    status, _, body = env.call("GET", f"/api/v1/records/{env.current}")
    assert status == 200, body
    wf = body["waveform"]
    assert wf["leads"] == LEADS12, wf["leads"]
    counts = np.frombuffer(base64.b64decode(wf["samples_b64"]), dtype="<i2")
    counts = counts.reshape(len(wf["leads"]), wf["n_samples"])
    signal, fs, _ = decode_waveform(env.originals[env.current])
    assert fs == wf["fs_hz"] == 500.0, fs
    np.testing.assert_array_equal(
        counts, np.rint(signal * wf["gain_counts_per_mv"]).astype(np.int16),
        err_msg="counts sent to the page differ from the stored waveform",
    )
    assert body["analysis"]["median_beat"]["uv"], "analysis without the median beats"
    assert body["previous_record_id"] == env.earlier, body["previous_record_id"]
    status, _, prev = env.call("GET", f"/api/v1/records/{env.earlier}")
    assert status == 200 and prev["previous_record_id"] is None, prev["previous_record_id"]
    # Another county cannot see it (not even that it exists).
    status, _, body = env.call("GET", f"/api/v1/records/{env.current}", who="other_county")
    assert status == 404 and body["error"] == "NotFoundError", body
    status, _, body = env.call("GET", "/api/v1/records/not-a-uuid-at-all-but-36-characters")
    assert status == 404, body  # not a route: the id pattern does not match


def test_claim_sign_amend_flow(env: Env) -> None:
    rec = f"/api/v1/records/{env.earlier}"
    stemi = {"code": "NORMAL", "label_en": "Normal ECG", "label_zh": "正常心电图",
             "priority": "routine"}
    draft = {"findings": [stemi], "free_text": "", "conclusion": "正常心电图"}
    status, _, body = env.call("POST", f"{rec}/sign", body=draft)
    assert status == 409, f"signing without a claim must be refused: {status} {body}"
    status, _, body = env.call("POST", f"{rec}/claim", body={})
    assert status == 200 and body["item"]["claimed_by"] == "dr-li", body
    status, _, body = env.call("POST", f"{rec}/claim", who="reader2", body={})
    assert status == 409, f"a second reader must not get the claim: {body}"
    for bad, field in (
        ({**draft, "conclusion": " "}, "conclusion"),
        ({**draft, "findings": [{**stemi, "source": "reader:dr-wang"}]}, "source"),
        ({**draft, "findings": [{**stemi, "priority": "urgent"}]}, "priority"),
        ({**draft, "findings": [{**stemi, "probability": "high"}]}, "probability"),
        ({**draft, "findings": "NORMAL"}, "findings"),
    ):
        status, _, body = env.call("POST", f"{rec}/sign", body=bad)
        assert status == 400 and field in body["detail"], f"{field}: {status} {body}"
    status, _, body = env.call("POST", f"{rec}/sign", raw=b"{not json")
    assert status == 400, body
    status, _, body = env.call("POST", f"{rec}/sign", body=draft)
    assert status == 200, body
    report = body["report"]
    assert report["version"] == 1 and report["signed_by"] == "dr-li", report
    assert report["findings"][0]["source"] == "reader:dr-li", report["findings"]
    status, _, body = env.call("POST", f"{rec}/sign", body=draft)
    assert status == 409, f"a signed record cannot be signed again: {body}"
    status, _, body = env.call("GET", "/api/v1/queue?include_claimed=1")
    assert env.earlier not in [i["record_id"] for i in body["items"]], "signed still queued"
    amend = {**draft, "conclusion": "大致正常心电图", "base_version": 1,
             "reason": "wording"}
    status, _, body = env.call("POST", f"{rec}/amend", body={**amend, "reason": ""})
    assert status == 400, body
    status, _, body = env.call("POST", f"{rec}/amend", body={**amend, "base_version": "1"})
    assert status == 400, body
    status, _, body = env.call("POST", f"{rec}/amend", body=amend)
    assert status == 200 and body["report"]["version"] == 2, body
    status, _, body = env.call("POST", f"{rec}/amend", body=amend)
    assert status == 409, f"amending a stale version must be refused: {body}"
    status, _, body = env.call("GET", rec)
    assert [r["version"] for r in body["reports"]] == [1, 2], body["reports"]
    assert body["item"]["status"] == "signed", body["item"]


def test_release_gives_the_record_back(env: Env) -> None:
    rec = f"/api/v1/records/{env.current}"
    status, _, _ = env.call("POST", f"{rec}/claim", who="reader2",
                            body={"lease_seconds": 60})
    assert status == 200
    status, _, body = env.call("POST", f"{rec}/claim", body={"lease_seconds": True})
    assert status == 400, body
    status, _, body = env.call("POST", f"{rec}/release", who="reader2")
    assert status == 200 and body == {}, body
    status, _, body = env.call("POST", f"{rec}/claim")
    assert status == 200 and body["item"]["claimed_by"] == "dr-li", body
    status, _, body = env.call("POST", f"{rec}/release")
    assert status == 200, body
    status, _, body = env.call("GET", "/api/v1/queue")
    item = next(i for i in body["items"] if i["record_id"] == env.current)
    assert item["status"] == "queued" and item["claimed_by"] is None, item


def test_unknown_api_route_is_404_json(env: Env) -> None:
    status, headers, body = env.call("GET", "/api/v1/nothing")
    assert status == 404 and body["error"] == "NotFoundError", body
    status, _, body = env.call("GET", f"/api/v1/records/{env.current}/sign")
    assert status == 404, body
    status, _, body = env.call("POST", "/api/v1/queue")
    assert status == 404, body
