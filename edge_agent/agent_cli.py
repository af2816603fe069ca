"""The agent's commands of ``ecg-edge``: ``submit``, ``watch``, ``status``, ``reports``.

Registered on the main parser by :func:`register` (called from :mod:`edge_agent.cli`).

``submit`` prints one line per record to stdout *after* the record is durable in the
outbox - ``queued <record-id> <priority> <path>`` (or ``duplicate <record-id> <state>
<path>`` when that content was queued before) - followed by the quality messages of the
local analysis (``  ! ...``). Errors go to stderr, one line each, naming the file.

Exit codes: 0 done; 2 some input could not be read (the others are queued); 3 startup
or configuration error; 4 ``--wait`` timed out (records stay queued); 5 the central
refused a record for good (kept as ``failed``); 6 the outbox is full.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from edge_agent.agent import (
    Accepted,
    Analyzer,
    DrainResult,
    FolderWatcher,
    ReportSync,
    UploadWorker,
    accept_file,
    accept_paths,
    core_analyzer,
    open_outbox,
    open_uplink,
)
from edge_agent.config import EdgeConfig, load_config
from edge_agent.errors import DiskFullError, EdgeAgentError, OutboxError, OutboxFullError
from edge_agent.outbox import Outbox, OutboxStatus, RecordState, StoredReport

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_OK",
    "EXIT_OUTBOX_FULL",
    "EXIT_REJECTED",
    "EXIT_TIMEOUT",
    "ProgressBar",
    "register",
]

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 4
EXIT_REJECTED = 5
EXIT_OUTBOX_FULL = 6


class ProgressBar:
    """A plain stderr progress bar (drawn only on a terminal unless forced)."""

    def __init__(self, total: int, *, stream: TextIO, enabled: bool, label: str) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.enabled = enabled
        self.label = label
        self.done = 0
        self._t0 = time.monotonic()

    def advance(self, n: int = 1, *, note: str = "") -> None:
        """Count ``n`` more items and redraw."""
        self.done += n
        if not self.enabled:
            return
        frac = min(1.0, self.done / self.total)
        width = 30
        fill = int(round(frac * width))
        rate = self.done / max(time.monotonic() - self._t0, 1e-9)
        self.stream.write(
            f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total}"
            f" {rate:5.1f}/s {note[:30]:<30}"
        )
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _add_config_args(p: argparse.ArgumentParser, *, link: bool = True) -> None:
    p.add_argument("--config", type=Path, help="TOML file (default: $ECG_EDGE_CONFIG)")
    p.add_argument("--outbox", type=Path, help="outbox SQLite file")
    p.add_argument("--site", dest="site_id", help="site id of this cart (township)")
    if not link:
        return
    p.add_argument("--server", help="central reader HOST:PORT (default 127.0.0.1:50051)")
    p.add_argument("--device", dest="device_id", help="device id of this cart")
    p.add_argument("--insecure", action="store_const", const=True, default=None,
                   help="plaintext gRPC, for local development only (TLS by default)")
    p.add_argument("--tls-ca", type=Path, help="CA certificate(s) of the central (PEM)")
    p.add_argument("--tls-cert", type=Path, help="per-device certificate (PEM)")
    p.add_argument("--tls-key", type=Path, help="per-device private key (PEM)")
    p.add_argument("--token", help="device token (better: $ECG_EDGE_TOKEN)")
    p.add_argument("--max-outbox-bytes", type=int, help="outbox disk budget in bytes")


def _config(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> EdgeConfig:
    base = load_config(args.config, environ=os.environ if environ is None else environ)
    keys = ("outbox", "site_id", "server", "device_id", "insecure", "tls_ca", "tls_cert",
            "tls_key", "token", "max_outbox_bytes")
    return base.with_overrides(**{k: getattr(args, k, None) for k in keys})


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``submit``, ``watch``, ``status`` and ``reports`` to ``ecg-edge``."""
    sub = subparsers.add_parser(
        "submit", help="analyse records, queue them durably and upload them"
    )
    sub.add_argument("paths", nargs="+", type=Path, help="record files, stems or folders")
    _add_config_args(sub)
    sub.add_argument("--wait", action="store_true",
                     help="return only when every record is acknowledged by the central")
    sub.add_argument("--timeout", type=float, default=300.0,
                     help="give up waiting after this many seconds (0: never; default 300)")
    sub.add_argument("--no-model", action="store_true", help="rules-only triage")
    sub.add_argument("--progress", action="store_true", default=None,
                     help="draw the progress bar even when stderr is not a terminal")
    sub.set_defaults(handler=_cmd_submit)

    watch = subparsers.add_parser(
        "watch", help="watch the cart's export folder; queue, upload, receive reports"
    )
    watch.add_argument("folder", type=Path, help="the cart's export folder")
    _add_config_args(watch)
    watch.add_argument("--interval", type=float, default=None, help="scan period (s)")
    watch.add_argument("--settle", type=float, default=None,
                       help="a file must be unchanged this long before it is read (s)")
    watch.add_argument("--no-model", action="store_true", help="rules-only triage")
    watch.add_argument("--no-reports", action="store_true",
                       help="do not follow the site's report stream")
    watch.add_argument("--exit-when-idle", action="store_true",
                       help="exit once the folder is taken in and the outbox drained")
    watch.set_defaults(handler=_cmd_watch)

    status = subparsers.add_parser(
        "status", help="outbox counts, oldest pending age, link state, disk use"
    )
    _add_config_args(status, link=False)
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.add_argument("--retry-failed", action="store_true",
                        help="put failed records back in the queue")
    status.set_defaults(handler=_cmd_status)

    reports = subparsers.add_parser(
        "reports", help="signed reports received from the centre"
    )
    _add_config_args(reports)
    reports.add_argument("--record", help="only this record id")
    reports.add_argument("--limit", type=int, default=50, help="newest N (default 50)")
    reports.add_argument("--json", action="store_true", help="one JSON array")
    reports.add_argument("--sync", type=float, metavar="SECONDS", default=None,
                         help="first fetch new reports from the central for up to SECONDS")
    reports.set_defaults(handler=_cmd_reports)


def _print_receipt(acc: Accepted, out: TextIO) -> None:
    if acc.duplicate:
        out.write(f"duplicate {acc.record_id} {acc.state.value} {acc.source}\n")
    else:
        # one code once: rules and model may both report it (the analysis keeps both)
        codes = ",".join(dict.fromkeys(c for c in acc.findings if c))
        out.write(f"queued {acc.record_id} {acc.priority.value} {acc.source}"
                  f"{' ' + codes if codes else ''}\n")
    for m in acc.messages:
        out.write(f"  ! {m}\n")
    out.flush()


def _analyzer(args: argparse.Namespace) -> Analyzer:
    return core_analyzer(use_model=not args.no_model)


def _expand(paths: list[Path]) -> tuple[list[Path], list[str]]:
    from edge_agent.io import iter_record_paths

    found: list[Path] = []
    errors: list[str] = []
    for given in paths:
        try:
            found.extend(iter_record_paths(given))
        except (OSError, EdgeAgentError) as exc:
            errors.append(f"{given}: {exc}")
    return found, errors


def _cmd_submit(args: argparse.Namespace) -> int:
    config = _config(args)
    paths, errors = _expand(args.paths)
    for e in errors:
        print(f"ecg-edge: error: {e}", file=sys.stderr)
    bad = len(errors)
    analyzer = _analyzer(args)
    ids: list[str] = []
    enabled = sys.stderr.isatty() if args.progress is None else bool(args.progress)
    bar = ProgressBar(len(paths), stream=sys.stderr, enabled=enabled and len(paths) > 1,
                      label="queue ")
    with open_outbox(config) as outbox:
        uplink = open_uplink(config)
        worker = UploadWorker(outbox, uplink, config)
        # Upload while the rest of the batch is analysed: a critical record goes out
        # within a second even when it is the first of a hundred.
        stop = threading.Event()
        background = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        background.start()
        try:
            for item in accept_paths(paths, outbox, analyzer, config):
                if isinstance(item, OutboxFullError):
                    raise item
                if isinstance(item, EdgeAgentError):
                    bar.advance(note="error")
                    print(f"ecg-edge: error: {item}", file=sys.stderr)
                    bad += 1
                    continue
                ids.append(item.record_id)
                bar.advance(note=item.priority.value)
                _print_receipt(item, sys.stdout)
        except OutboxFullError as exc:
            bar.close()
            print(f"ecg-edge: error: {exc}", file=sys.stderr)
            return EXIT_OUTBOX_FULL
        finally:
            stop.set()
            background.join()
        bar.close()
        try:
            code = _upload(outbox, worker, ids, args, enabled=enabled)
        finally:
            worker.close()
            uplink.close()
    return code if code != EXIT_OK else (EXIT_BAD_INPUT if bad else EXIT_OK)


def _upload(
    outbox: Outbox, worker: UploadWorker, ids: list[str], args: argparse.Namespace,
    *, enabled: bool,
) -> int:
    if not args.wait:
        # One best-effort pass: upload what is due unless the link is down.
        res = worker.run_batch()
        while res.acked and not res.link_down:
            res = worker.run_batch()
        st = outbox.status()
        print(f"ecg-edge: {st.pending} pending, {st.sent} sent, {st.failed} failed;"
              f" link {st.link.state.value}", file=sys.stderr)
        return EXIT_OK
    bar = ProgressBar(len(ids), stream=sys.stderr, enabled=enabled and len(ids) > 1,
                      label="upload")
    stop = threading.Event()
    refused: list[str] = []

    def done() -> bool:
        counts = outbox.state_counts(ids)
        if counts[RecordState.FAILED]:
            refused.append("x")
            return True
        bar.done = counts[RecordState.SENT] - 1
        bar.advance()
        return counts[RecordState.SENT] == len(set(ids))

    was_down = [False]

    def progress(res: DrainResult) -> None:
        if res.link_down and not was_down[0]:
            st = outbox.link()
            print(f"ecg-edge: link down ({st.last_error}); records stay queued,"
                  " retrying with backoff", file=sys.stderr)
        if res.link_down or res.acked:
            was_down[0] = res.link_down

    timeout = None if args.timeout <= 0 else args.timeout
    ok = worker.drain(done, timeout_s=timeout, stop=stop, on_progress=progress)
    bar.close()
    if refused:
        for rec in outbox.list_records(RecordState.FAILED):
            if rec.record_id in ids:
                print(f"ecg-edge: error: central refused {rec.record_id}"
                      f" ({rec.source}): {rec.last_error}", file=sys.stderr)
        return EXIT_REJECTED
    if not ok:
        counts = outbox.state_counts(ids)
        print(f"ecg-edge: error: timed out after {args.timeout:g} s with"
              f" {counts[RecordState.PENDING]} of {len(set(ids))} records not yet"
              f" acknowledged (they stay queued); link: {outbox.link().state.value}"
              f" {outbox.link().last_error or ''}", file=sys.stderr)
        return EXIT_TIMEOUT
    return EXIT_OK


def _cmd_watch(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.interval is not None or args.settle is not None:
        config = config.with_overrides(watch_interval_s=args.interval,
                                       watch_settle_s=args.settle)
    if not args.folder.is_dir():
        print(f"ecg-edge: error: {args.folder}: not a folder", file=sys.stderr)
        return EXIT_BAD_INPUT
    analyzer = _analyzer(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with open_outbox(config) as outbox:
        uplink = open_uplink(config)
        worker = UploadWorker(outbox, uplink, config)
        threads = [threading.Thread(target=worker.run, args=(stop,), name="upload",
                                    daemon=True)]
        if config.reports and not args.no_reports:
            threads.append(threading.Thread(target=ReportSync(outbox, uplink, config).run,
                                            args=(stop,), name="reports", daemon=True))
        for t in threads:
            t.start()
        watcher = FolderWatcher(args.folder, outbox, settle_s=config.watch_settle_s)
        watcher.reset_waiting_note()
        print(f"ecg-edge: watching {args.folder} -> {config.server} (site"
              f" {config.site_id})", file=sys.stderr)
        try:
            while not stop.is_set():
                _take_in(watcher, outbox, analyzer, config)
                idle = not (watcher._pending or watcher.waiting
                            or outbox.count(RecordState.PENDING))
                if args.exit_when_idle and idle:
                    break
                stop.wait(config.watch_interval_s)
        finally:
            stop.set()
            uplink.close()
            for t in threads:
                t.join(timeout=10)
            worker.close()
    return EXIT_OK


def _take_in(watcher: FolderWatcher, outbox: Outbox, analyzer: Analyzer,
             config: EdgeConfig) -> None:
    ready = watcher.scan()
    for i, (path, sig) in enumerate(ready):
        try:
            acc = accept_file(path, outbox, analyzer, site_id=config.site_id,
                              device_id=config.device_id)
        except OutboxFullError as exc:
            # Includes DiskFullError: transient. This file and the rest of the scan wait
            # and are retried as soon as uploads free the space (or after the backoff).
            need = 0 if isinstance(exc, DiskFullError) else outbox.last_refused_bytes
            delay = watcher.outbox_full(refused=ready[i:], need_bytes=need)
            print(f"ecg-edge: error: {exc}; {len(watcher.waiting)} files wait for space,"
                  f" retried when uploads free it (at the latest in {delay:.1f} s)",
                  file=sys.stderr)
            return
        except EdgeAgentError as exc:
            if exc.path is None:
                exc.path = str(path)
            print(f"ecg-edge: error: {exc}", file=sys.stderr)
            try:
                outbox.mark_file(str(path), sig, record_id=None, error=str(exc))
            except OutboxError as mark_exc:
                print(f"ecg-edge: error: {mark_exc}", file=sys.stderr)
                watcher.outbox_full(refused=ready[i:])
                return
            watcher.taken_in(path)
            continue
        watcher.taken_in(path)
        try:
            outbox.mark_file(str(path), sig, record_id=acc.record_id, error=None)
        except OutboxError as exc:
            # The record is stored; only the "seen" note is missing, so the file is read
            # again later and answered from the outbox as a duplicate.
            print(f"ecg-edge: error: {exc}", file=sys.stderr)
            watcher.outbox_full(refused=ready[i + 1:])
            _print_receipt(acc, sys.stdout)
            return
        _print_receipt(acc, sys.stdout)


def _open_existing(config: EdgeConfig) -> Outbox:
    if not Path(config.outbox).is_file():
        raise EdgeAgentError("no outbox here yet", path=str(config.outbox))
    return open_outbox(config)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _when(t: float | None) -> str:
    if t is None:
        return "never"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def write_status(st: OutboxStatus, out: TextIO) -> None:
    """The human-readable ``status`` table."""
    disk = (f"{st.used_bytes / 1e6:.1f} MB of {st.max_bytes / 1e6:.0f} MB"
            f" ({100 * st.used_fraction:.1f}%), file {st.file_bytes / 1e6:.1f} MB")
    out.write(
        f"outbox   {st.path}\n"
        f"pending  {st.pending} ({st.pending_critical} critical)"
        f"   oldest {_age(st.oldest_pending_age_s)}\n"
        f"sent     {st.sent}\n"
        f"failed   {st.failed}\n"
        f"disk     {disk}{'   ALARM: outbox nearly full' if st.alarm else ''}\n"
        f"link     {st.link.state.value} since {_when(st.link.changed_at)};"
        f" last success {_when(st.link.last_success_at)}\n"
    )
    if st.link.last_error:
        out.write(f"         last error {st.link.last_error}"
                  f" ({_when(st.link.last_error_at)})\n")
    out.write(f"reports  {st.reports}\n")
    if st.waiting_files:
        out.write(f"WAITING  {st.waiting_files} files refused for lack of outbox space"
                  f" since {_when(st.waiting_since)} (oldest {st.waiting_oldest}); they"
                  " are taken in as uploads free space\n")


def _cmd_status(args: argparse.Namespace) -> int:
    config = _config(args)
    with _open_existing(config) as outbox:
        if args.retry_failed:
            n = outbox.retry_failed()
            print(f"ecg-edge: {n} failed records put back in the queue", file=sys.stderr)
        st = outbox.status()
        if args.json:
            json.dump(st.to_dict(), sys.stdout, indent=1)
            sys.stdout.write("\n")
        else:
            write_status(st, sys.stdout)
            if st.failed:
                for rec in outbox.list_records(RecordState.FAILED, limit=10):
                    sys.stdout.write(f"  failed {rec.record_id} {rec.source}:"
                                     f" {rec.last_error}\n")
    return EXIT_OK


def _cmd_reports(args: argparse.Namespace) -> int:
    config = _config(args)
    with _open_existing(config) as outbox:
        if args.sync is not None:
            uplink = open_uplink(config)
            try:
                n = ReportSync(outbox, uplink, config).sync_once(stream_s=args.sync)
                print(f"ecg-edge: {n} new reports", file=sys.stderr)
            except Exception as exc:  # noqa: BLE001 - show the stored ones anyway
                print(f"ecg-edge: warning: cannot reach {config.server}: {exc}",
                      file=sys.stderr)
            finally:
                uplink.close()
        reports = outbox.list_reports(record_id=args.record, limit=args.limit)
        if args.json:
            json.dump([
                {"report_id": r.report_id, "version": r.version, "record_id": r.record_id,
                 "site_id": r.site_id, "cursor": r.cursor, "signed_at": r.signed_at,
                 "signed_by": r.signed_by, "conclusion": r.conclusion, "report": r.payload}
                for r in reports
            ], sys.stdout, indent=1, ensure_ascii=False)
            sys.stdout.write("\n")
            return EXIT_OK
        if not reports:
            print("no reports yet")
        for r in reports:
            print(_report_text(r))
    return EXIT_OK


def _report_text(r: StoredReport) -> str:
    """A signed report as the township reads it: who, when, conclusion, statements, the
    cardiologist's description (measurement corrections included) and, for an amended
    version, why it was amended."""
    lines = [
        f"{r.signed_at or '-'}  record {r.record_id}  v{r.version}  {r.signed_by}",
        f"    {r.conclusion}",
    ]
    reason = str(r.payload.get("amend_reason", "")).strip()
    if r.version > 1 and reason:
        lines.append(f"    amended: {reason}")
    lines.extend(
        f"    * {f.get('code', '')} {f.get('label_en', '')} {f.get('label_zh', '')}"
        for f in r.payload.get("findings", [])
    )
    text = str(r.payload.get("free_text", "")).strip()
    if text:
        lines.extend("    | " + ln for ln in text.splitlines())
    return "\n".join(lines)
