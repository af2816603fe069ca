"""``ecg-central network``: the whole county network on one machine, in one command.

What it starts, all as real processes on loopback (``make run`` calls it):

1. a central reader, ``ecg-central serve --dev --insecure`` on a SQLite file under
   ``var/network/`` (or ``--db postgresql://...``), with the reading page on HTTP;
2. one device user, site and bearer token per simulated township site (written to
   ``var/network/sites/<site>/token``, mode 0600);
3. a hospital alert desk: ``ecg-central alerts watch --json`` when the alerts service is
   installed (issue 6), otherwise a queue watcher in this process that reports critical
   alerting records from ``Reading.ListQueue`` (labelled as such);
4. one ``ecg-edge watch`` agent per site, each with its own export folder, outbox and
   token; the input records (``--records``, default ``sample_records/``) are dealt out
   to the sites' export folders, round robin.

It prints where to open the reading page (URL and a reader token), one line per record
queued at a cart, the alert lines as they arrive, one line per signed report as it lands in
a cart's outbox (what ``ecg-edge reports --outbox ...`` shows at the township), and keeps
running until Ctrl-C (or
SIGTERM), which stops the agents, the desk, then the central, and exits 0. Children run
in their own session with ``PR_SET_PDEATHSIG``, so even a ``kill -9`` of this process
leaves no orphan behind. For scripts and tests: ``--exit-after-alert`` (stop once an
alert has arrived and every queued record is at the central) and ``--duration S``.

Exit codes: 0 clean stop; 1 a child died unexpectedly or ``--exit-after-alert`` timed
out; 3 startup error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from central_reader._network_support import (
    alerts_cli,
    alerts_toml,
    die_with_parent,
    pick_port,
    record_files,
)

__all__ = ["Child", "NetworkConfig", "main", "register", "run_network"]

_log = logging.getLogger("central_reader.network")

DEFAULT_SITES = ("township-a", "township-b", "township-c")
ALERT_CODES = frozenset({"STEMI"})
EXIT_CHILD_DIED = 1
EXIT_STARTUP = 3


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """Everything :func:`run_network` needs; paths are made absolute by the CLI."""

    workdir: Path
    records: tuple[Path, ...]
    sites: tuple[str, ...] = DEFAULT_SITES
    db: str | None = None
    listen: str = "127.0.0.1:50051"
    http: str = "127.0.0.1:8080"
    keep: bool = False
    use_model: bool = True
    exit_after_alert: bool = False
    duration_s: float | None = None
    alert_timeout_s: float = 300.0
    verbose: bool = False


@dataclass
class Child:
    """One child process and the name its output lines are prefixed with."""

    name: str
    proc: subprocess.Popen[str]
    pump: threading.Thread | None = None
    stopping: bool = False


@dataclass
class _State:
    """What the main loop has seen so far."""

    ready: bool = False
    queued: dict[str, str] = field(default_factory=dict)  # record id -> site
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alert_ids: set[str] = field(default_factory=set)
    queued_at: dict[str, float] = field(default_factory=dict)
    reports: set[str] = field(default_factory=set)  # report ids seen in the carts' outboxes


class Network:
    """The running network: children, their output, the events seen."""

    def __init__(self, config: NetworkConfig, out: IO[str]) -> None:
        self.config = config
        self.out = out
        self.children: list[Child] = []
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.state = _State()
        self.stop = threading.Event()
        self.listen = config.listen
        self.http = config.http
        self.db = config.db or f"sqlite:///{config.workdir / 'central.sqlite'}"
        self.tokens: dict[str, str] = {}
        self.site_tokens: dict[str, str] = {}
        self.hospital_id = "dev-cpc"
        self.desk_kind = "none"
        self.expected_records = 0
        self._lock = threading.Lock()
        self._outboxes: dict[str, Any] = {}

    # -- output ----------------------------------------------------------------------

    def say(self, text: str) -> None:
        """One line of the orchestrator's own output."""
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def _pump(self, child: Child) -> None:
        assert child.proc.stdout is not None
        for line in child.proc.stdout:
            self.lines.put((child.name, line.rstrip("\n")))
        self.lines.put((child.name, "\0eof"))

    # -- children --------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        """Start a child in its own session, its stdout+stderr pumped into ``lines``."""
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        full_env.update(env or {})
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, before exec
        )
        child = Child(name, proc)
        child.pump = threading.Thread(target=self._pump, args=(child,), daemon=True)
        child.pump.start()
        self.children.append(child)
        return child

    def terminate_all(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the agents and the desk first, the central last; SIGKILL stragglers."""
        order = [c for c in self.children if c.name != "central"] + [
            c for c in self.children if c.name == "central"
        ]
        for group in (order[:-1], order[-1:]):
            for c in group:
                c.stopping = True
                if c.proc.poll() is None:
                    c.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            for c in group:
                try:
                    c.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _log.warning("%s did not stop in %.0f s: SIGKILL", c.name, timeout_s)
                    c.proc.kill()
                    c.proc.wait()
        for c in self.children:
            if c.pump is not None:
                c.pump.join(5)
            if c.proc.stdout is not None:
                c.proc.stdout.close()

    # -- start-up --------------------------------------------------------------------

    def start_central(self, serve_opts: set[str], alerts_file: Path | None) -> None:
        """``ecg-central serve --dev --insecure`` and wait for ``ready``."""
        cfg = self.config
        self.listen = pick_port(cfg.listen)
        self.http = pick_port(cfg.http)
        argv = [sys.executable, "-m", "central_reader", "serve", "--db", self.db,
                "--listen", self.listen, "--http", self.http, "--insecure", "--dev",
                "--dev-tokens", str(cfg.workdir / "dev-tokens.json"), "--grace", "2"]
        if alerts_file is not None:
            opt = next(o for o in ("--alerts-config", "--alerts") if o in serve_opts)
            argv += [opt, str(alerts_file)]
        self.spawn("central", argv)
        deadline = time.monotonic() + 120
        while not self.state.ready:
            if self.stop.is_set():
                raise _StartupError("interrupted while starting")
            if time.monotonic() > deadline:
                raise _StartupError("the central did not become ready in 120 s")
            self._drain_lines(0.2)
            central = self.children[0]
            if central.proc.poll() is not None and not self.state.ready:
                raise _StartupError(f"the central exited with {central.proc.returncode}")
        self.tokens = json.loads((cfg.workdir / "dev-tokens.json").read_text("utf-8"))

    def provision_sites(self) -> None:
        """One site, one device user bound to it, one bearer token per township cart."""
        from central_reader.cli import DEV_COUNTY
        from central_reader.service import ReadingService
        from central_reader.store import open_store
        from central_reader.types import Role

        store = open_store(self.db)
        try:
            service = ReadingService(store)
            users = {u.user_id for u in store.list_users()}
            for site in self.config.sites:
                store.add_site(site, DEV_COUNTY, f"Township clinic {site}")
                device = f"cart-{site}"
                if device not in users:
                    service.create_user(device, role=Role.DEVICE, name=f"ECG cart {site}",
                                        county_id=DEV_COUNTY, site_id=site)
                token = service.issue_token(device, label="network")[1]
                site_dir = self.config.workdir / "sites" / site
                (site_dir / "export").mkdir(parents=True, exist_ok=True)
                tok = site_dir / "token"
                tok.write_text(token + "\n", encoding="utf-8")
                tok.chmod(0o600)
                self.site_tokens[site] = token
        finally:
            store.close()

    def start_desk(self, has_alerts: bool, watch_opts: set[str]) -> None:
        """The hospital desk: the alerts client (issue 6) or the queue watcher fallback."""
        if has_alerts:
            argv = [sys.executable, "-m", "central_reader", "alerts", "watch",
                    "--server", self.listen, "--hospital", self.hospital_id,
                    "--insecure", "--json"]
            env = {"ECG_CENTRAL_TOKEN": self.tokens.get("hospital", "")}
            if "--token" in watch_opts:
                argv += ["--token", self.tokens.get("hospital", "")]
            self.spawn("desk", argv, env)
            self.desk_kind = "alerts watch"
        else:
            t = threading.Thread(target=self._queue_watch, name="desk", daemon=True)
            t.start()
            self.desk_kind = "queue watch (alerts service not installed)"

    def _queue_watch(self) -> None:
        import grpc
        from ecgnet.v1 import reading_pb2, reading_pb2_grpc

        md = (("authorization", f"Bearer {self.tokens.get('cardiologist', '')}"),)
        seen: set[str] = set()
        with grpc.insecure_channel(self.listen) as channel:
            stub = reading_pb2_grpc.ReadingStub(channel)  # type: ignore[no-untyped-call]
            while not self.stop.wait(0.3):
                try:
                    resp = stub.ListQueue(
                        reading_pb2.ListQueueRequest(limit=1000, include_claimed=True),
                        metadata=md, timeout=5,
                    )
                except grpc.RpcError:
                    continue
                for item in resp.items:
                    codes = [f.code for f in item.findings]
                    if item.record_id in seen or not ALERT_CODES.intersection(codes):
                        continue
                    seen.add(item.record_id)
                    self.lines.put(("desk", json.dumps({
                        "alert_id": f"queue:{item.record_id}",
                        "record_id": item.record_id,
                        "site_id": item.site_id,
                        "findings": codes,
                        "acquired_at": item.acquired_at.ToJsonString()
                        if item.HasField("acquired_at") else None,
                        "raised_at": item.received_at.ToJsonString(),
                    })))

    def start_agents(self) -> None:
        """Deal the records out to the sites' export folders; an ``ecg-edge watch`` each."""
        cfg = self.config
        records = record_files(cfg.records)
        self.expected_records = len(records)
        for i, files in enumerate(records):
            site = cfg.sites[i % len(cfg.sites)]
            export = cfg.workdir / "sites" / site / "export"
            for f in files:
                shutil.copy2(f, export / f.name)
        for site in cfg.sites:
            site_dir = cfg.workdir / "sites" / site
            argv = [sys.executable, "-m", "edge_agent", "watch", str(site_dir / "export"),
                    "--server", self.listen, "--outbox", str(site_dir / "outbox.sqlite"),
                    "--site", site, "--device", f"cart-{site}", "--insecure",
                    "--interval", "0.5", "--settle", "0.5"]
            if not cfg.use_model:
                argv.append("--no-model")
            self.spawn(site, argv, {"ECG_EDGE_TOKEN": self.site_tokens[site]})

    # -- events ----------------------------------------------------------------------

    def _drain_lines(self, wait_s: float) -> None:
        try:
            name, line = self.lines.get(timeout=wait_s)
        except queue.Empty:
            return
        self._on_line(name, line)
        while True:
            try:
                name, line = self.lines.get_nowait()
            except queue.Empty:
                return
            self._on_line(name, line)

    def _on_line(self, name: str, line: str) -> None:
        if line == "\0eof":
            return
        if name == "central" and line.strip() == "ready":
            self.state.ready = True
            return
        if name == "desk" and line.startswith("{"):
            self._on_alert(line)
            return
        parts = line.split()
        if name in self.config.sites and len(parts) >= 4 and parts[0] in (
            "queued", "duplicate"
        ):
            self.state.queued[parts[1]] = name
            self.state.queued_at[parts[1]] = time.monotonic()
            codes = parts[4] if len(parts) > 4 else ""
            self.say(f"[{name}] {parts[0]} {parts[2]:<8} {Path(parts[3]).name:<28}"
                     f" {parts[1]} {codes}")
            return
        if self.config.verbose or " WARNING " in f" {line} " or "ERROR" in line or (
            "error" in line and name != "central"
        ):
            self.say(f"[{name}] {line}")

    def _on_alert(self, line: str) -> None:
        try:
            alert = json.loads(line)
        except ValueError:
            self.say(f"[desk] {line}")
            return
        key = str(alert.get("alert_id"))
        if key in self.state.alert_ids:
            return
        self.state.alert_ids.add(key)
        self.state.alerts.append(alert)
        rid = str(alert.get("record_id"))
        since = self.state.queued_at.get(rid)
        after = "" if since is None else f" ({time.monotonic() - since:.1f} s after queued)"
        findings = alert.get("findings") or []
        codes = ",".join(str(f.get("code", f)) if isinstance(f, dict) else str(f)
                         for f in findings)
        self.say(f"\a[desk] ALERT {codes} record {rid} from {alert.get('site_id')}"
                 f" acquired {alert.get('acquired_at')}{after}")

    def central_count(self) -> int | None:
        """Records in the central's queue (any status), via ``Reading.ListQueue``."""
        import grpc
        from ecgnet.v1 import reading_pb2, reading_pb2_grpc

        md = (("authorization", f"Bearer {self.tokens.get('cardiologist', '')}"),)
        try:
            with grpc.insecure_channel(self.listen) as channel:
                stub = reading_pb2_grpc.ReadingStub(channel)  # type: ignore[no-untyped-call]
                resp = stub.ListQueue(
                    reading_pb2.ListQueueRequest(limit=1000, include_claimed=True),
                    metadata=md, timeout=5,
                )
        except grpc.RpcError:
            return None
        return len({i.record_id for i in resp.items})

    def poll_reports(self) -> None:
        """Say each signed report once it is in a cart's outbox (read with the edge's own
        ``Outbox``, as ``ecg-edge reports`` does; the agent keeps writing to it)."""
        from edge_agent.outbox import Outbox

        for site in self.config.sites:
            outbox = self._outboxes.get(site)
            if outbox is None:
                path = self.config.workdir / "sites" / site / "outbox.sqlite"
                if not path.exists():  # created by the cart's agent, not here
                    continue
                try:
                    outbox = self._outboxes[site] = Outbox(path)
                except Exception as exc:  # noqa: BLE001 - a demo line, never fatal
                    _log.warning("cannot read %s: %s", path, exc)
                    continue
            try:
                reports = outbox.list_reports(limit=50)
            except Exception as exc:  # noqa: BLE001
                _log.warning("cannot read the reports of %s: %s", site, exc)
                continue
            for r in sorted(reports, key=lambda r: r.cursor):
                if r.report_id in self.state.reports:
                    continue
                self.state.reports.add(r.report_id)
                self.say(f"[{site}] report v{r.version} for record {r.record_id} at the"
                         f" cart, signed by {r.signed_by}: {r.conclusion}")

    def close_outboxes(self) -> None:
        """Close what :meth:`poll_reports` opened."""
        for outbox in self._outboxes.values():
            outbox.close()
        self._outboxes.clear()

    def died(self) -> Child | None:
        """A child that exited while nobody asked it to."""
        for c in self.children:
            if not c.stopping and c.proc.poll() is not None:
                return c
        return None


class _StartupError(Exception):
    """Start-up failed; the message says why."""


def run_network(config: NetworkConfig, out: IO[str] = sys.stdout) -> int:
    """Start the network, run until stopped, stop it cleanly; returns the exit status."""
    net = Network(config, out)
    previous = {}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        net.stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        return _run(net)
    except _StartupError as exc:
        net.say(f"ecg-central network: {exc}")
        return EXIT_STARTUP if not net.stop.is_set() else 0
    finally:
        net.stop.set()
        net.close_outboxes()
        net.terminate_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        net.say("network stopped")


def _run(net: Network) -> int:
    cfg = net.config
    if cfg.workdir.exists() and not cfg.keep:
        shutil.rmtree(cfg.workdir)
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    has_alerts, watch_opts, serve_opts = alerts_cli()
    alerts_file = None
    if has_alerts and serve_opts & {"--alerts-config", "--alerts"}:
        alerts_file = cfg.workdir / "alerts.toml"
        alerts_file.write_text(alerts_toml(net.hospital_id), encoding="utf-8")
    t0 = time.monotonic()
    net.say(f"starting the central reader ({net.db})")
    net.start_central(serve_opts, alerts_file)
    net.provision_sites()
    net.start_desk(has_alerts, watch_opts)
    net.start_agents()
    net.say("")
    net.say(f"  central reader  gRPC {net.listen}   (store {net.db})")
    net.say(f"  reading page    http://{net.http}/")
    net.say(f"  reader token    {net.tokens.get('cardiologist')}")
    net.say(f"  alert desk      hospital {net.hospital_id}: {net.desk_kind}")
    for site in cfg.sites:
        net.say(f"  township cart   {site}: drop records into "
                f"{cfg.workdir / 'sites' / site / 'export'}")
    net.say(f"  signed reports  ecg-edge reports --outbox "
            f"{cfg.workdir / 'sites' / '<site>' / 'outbox.sqlite'} (also shown here)")
    net.say(f"  {net.expected_records} records dealt to {len(cfg.sites)} sites;"
            f" tokens in {cfg.workdir}; Ctrl-C stops everything")
    net.say("")
    net.say(f"network ready in {time.monotonic() - t0:.1f} s")
    deadline = None if cfg.duration_s is None else time.monotonic() + cfg.duration_s
    alert_deadline = time.monotonic() + cfg.alert_timeout_s
    next_check = 0.0
    reported_all = False
    while not net.stop.is_set():
        net._drain_lines(0.2)
        dead = net.died()
        if dead is not None:
            net.say(f"ecg-central network: {dead.name} exited with"
                    f" {dead.proc.returncode}; stopping")
            return EXIT_CHILD_DIED
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        if now >= next_check:
            next_check = now + 1.0
            net.poll_reports()
            n = None if reported_all else net.central_count()
            if n is not None and n >= net.expected_records > 0:
                reported_all = True
                net.say(f"all {n} records are at the central")
        if cfg.exit_after_alert:
            if net.state.alerts and reported_all:
                break
            if now > alert_deadline:
                missing = "no alert" if not net.state.alerts else "missing records"
                net.say(f"ecg-central network: {missing} within {cfg.alert_timeout_s:g} s")
                return EXIT_CHILD_DIED
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``network`` to the ``ecg-central`` parser."""
    p = sub.add_parser(
        "network",
        help="run a whole local network: central, alert desk, township carts",
    )
    p.add_argument("--workdir", type=Path, default=Path("var/network"),
                   help="state of this run (wiped at start unless --keep)")
    p.add_argument("--records", type=Path, action="append",
                   help="records to submit (repeatable; default sample_records/)")
    p.add_argument("--sites", default=",".join(DEFAULT_SITES),
                   help="comma-separated township site ids")
    p.add_argument("--db", help="store URL (default sqlite:///WORKDIR/central.sqlite)")
    p.add_argument("--listen", default="127.0.0.1:50051",
                   help="gRPC HOST:PORT (another free port if taken)")
    p.add_argument("--http", default="127.0.0.1:8080",
                   help="reading page HOST:PORT (another free port if taken)")
    p.add_argument("--keep", action="store_true", help="keep WORKDIR from the last run")
    p.add_argument("--no-model", action="store_true", help="carts triage with rules only")
    p.add_argument("--exit-after-alert", action="store_true",
                   help="stop once an alert arrived and every record is at the central")
    p.add_argument("--alert-timeout", type=float, default=300.0,
                   help="with --exit-after-alert: give up after this many seconds")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--verbose", action="store_true", help="show every child's log line")
    p.set_defaults(func=_cmd_network)


def _cmd_network(ns: argparse.Namespace) -> int:
    records = tuple(p.resolve() for p in (ns.records or [Path("sample_records")]))
    sites = tuple(s.strip() for s in ns.sites.split(",") if s.strip())
    if not sites:
        sys.stderr.write("ecg-central network: --sites is empty\n")
        return EXIT_STARTUP
    config = NetworkConfig(
        workdir=ns.workdir.resolve(), records=records, sites=sites, db=ns.db,
        listen=ns.listen, http=ns.http, keep=ns.keep, use_model=not ns.no_model,
        exit_after_alert=ns.exit_after_alert, duration_s=ns.duration,
        alert_timeout_s=ns.alert_timeout, verbose=ns.verbose,
    )
    return run_network(config)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m central_reader.network [options]`` (same options as the subcommand)."""
    parser = argparse.ArgumentParser(prog="ecg-central")
    register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args(["network", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    return int(ns.func(ns))


if __name__ == "__main__":
    raise SystemExit(main())
