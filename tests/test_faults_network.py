"""The fault suite (bench/faults.py), short: real central, real cart agents, real chaos.

One round on SQLite injects each fault kind at least once - kill -9 of the central and of
a cart, the central killed mid-write (the SQLite form of a database restart), a network
cut (central frozen), a full outbox (byte budget), two clock-skewed carts - then checks
that every acknowledged record is at the central exactly once, every STEMI alert reached
the hospital desk and none was shown twice as new, integrity_check is ok everywhere and
every waveform decodes to the source's int16 counts. PostgreSQL (pg_terminate_backend)
and the long network cut run in ``python -m bench.faults`` (results in bench/results).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.faults import SKEW, run_suite


@pytest.mark.shared_data
def test_chaos_round_keeps_every_record_exactly_once(shared_data: Path) -> None:
    r = run_suite("sqlite", n_records=24, seconds=6, cut_s=4, seed=3, drain_s=90)
    c = r["checks"]
    kinds = {"kill9_central", "kill9_cart", "db_restart", "network_cut", "disk_full"}
    assert kinds <= set(r["faults"]), f"not every fault kind injected: {r['faults']}"
    assert c["drained"], f"outboxes did not drain: {c}"
    assert c["files_taken_in"] == c["files_dropped"], f"files not taken in: {c}"
    assert c["acknowledged_missing_at_central"] == 0, f"acked but missing: {c}"
    assert c["duplicated_at_central"] == 0, f"duplicates at the central: {c}"
    assert c["at_central_never_queued"] == 0, f"phantom records: {c}"
    assert c["acknowledged"] >= c["files_dropped"] - len(c["failed_at_edge"]), c
    assert c["stemi_acknowledged"] >= 1, f"no STEMI record went through: {c}"
    assert c["stemi_alerts_received"] == c["stemi_acknowledged"], f"alerts lost: {c}"
    assert c["alerts_shown_new_more_than_once"] == 0, f"an alert shown twice as new: {c}"
    integrity = c["integrity_check"]
    assert set(integrity.values()) == {"ok"}, f"integrity: {integrity}"
    assert c["waveform_roundtrip_ok"] == c["acknowledged"], f"round trip: {c}"
    assert not c["waveform_roundtrip_bad"], c["waveform_roundtrip_bad"]
    assert c["outbox_full_messages"] >= 1, f"the tiny outbox never filled up: {c}"
    # Future-dated records (cart clock ahead) are kept by the central with its receive
    # time and a CLOCK_SKEW finding: nothing fails at any cart, none is lost.
    assert c["failed_at_edge"] == [], c["failed_at_edge"]
    skew = c["clock_skew"]
    assert skew["future_files"] >= 1, f"no future-dated record in the round: {skew}"
    assert skew["flagged_at_central"] == skew["future_files"], skew
    assert skew["past_flagged_at_central"] == 0, skew
    assert set(SKEW) == {"site-future", "site-past"}
    assert c["central_exit_status"] == 0, f"central exit {c['central_exit_status']}"
    assert c["ok"], f"suite verdict: {c}"


@pytest.mark.shared_data
def test_real_full_filesystem_loses_nothing(shared_data: Path) -> None:
    r = run_suite("sqlite", n_records=12, seconds=3, cut_s=3, seed=5, drain_s=8,
                  real_disk_full=True)
    c = r["checks"]
    if c["tiny_outbox"].startswith("300 kB"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    assert c["files_taken_in"] == c["files_dropped"], f"files never queued: {c}"
    assert c["cart_agent_crashes_restarted"] == 0, c["cart_agent_crash_kinds"]
