"""Helpers of ``ecg-central network`` (:mod:`central_reader.network`): ports, the input
records, what the installed CLI offers, the development alert routing, child set-up."""

from __future__ import annotations

import argparse
import ctypes
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def port_free(hostport: str) -> bool:
    """True when ``HOST:PORT`` can be bound now."""
    host, _, port = hostport.rpartition(":")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel reports free on ``host``."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pick_port(hostport: str) -> str:
    """``hostport`` when it is free, else the same host on a free port (port 0: any)."""
    host, _, port = hostport.rpartition(":")
    if port != "0" and port_free(hostport):
        return hostport
    return f"{host}:{free_port(host)}"


def record_files(paths: Sequence[Path]) -> list[list[Path]]:
    """Each input record as the list of its files (header + data + annotations)."""
    from edge_agent.io import iter_record_paths

    out: list[list[Path]] = []
    for given in paths:
        for main_file in iter_record_paths(given):
            stem = main_file.with_suffix("")
            files = sorted(
                p for p in main_file.parent.glob(stem.name + ".*") if p.is_file()
            )
            out.append(files or [main_file])
    return out


def alerts_cli() -> tuple[bool, set[str], set[str]]:
    """(alerts subcommand present, its ``watch`` options, ``serve`` options)."""
    from central_reader.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve_opts = {o for a in sub.choices["serve"]._actions for o in a.option_strings}
    alerts = sub.choices.get("alerts")
    if alerts is None:
        return False, set(), serve_opts
    inner = next(
        (a for a in alerts._actions if isinstance(a, argparse._SubParsersAction)), None
    )
    watch = None if inner is None else inner.choices.get("watch")
    if watch is None:
        return False, set(), serve_opts
    return True, {o for a in watch._actions for o in a.option_strings}, serve_opts


def alerts_toml(hospital_id: str) -> str:
    """Alert routing of the development county to ``hospital_id`` (STEMI, critical)."""
    from central_reader.cli import DEV_COUNTY

    return (
        "[alerts]\n"
        'codes = ["STEMI"]\n'
        'min_priority = "critical"\n\n'
        f"[hospitals.{hospital_id}]\n"
        f'county = "{DEV_COUNTY}"\n'
        'name = "Development chest-pain centre"\n\n'
        "[[routes]]\n"
        f'county = "{DEV_COUNTY}"\n'
        f'hospital = "{hospital_id}"\n'
    )
