"""``ecg-edge``: the township cart's command line.

``ecg-edge analyze PATH... [--json]`` reads records (a file, a WFDB record stem or a
folder) and prints a readable report per record, or one JSON document (a list of
``Analysis.to_dict()`` with the path and the patient fields). Bad input gets one clear line
naming the file, the lead and what was expected, and a non-zero exit code; never a
traceback.

The agent commands (``submit``, ``watch``, ``status``, ``reports``) are registered by
``edge_agent.agent_cli``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from edge_agent.errors import EdgeAgentError

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_STARTUP = 3


def build_parser() -> argparse.ArgumentParser:
    """The full ``ecg-edge`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="ecg-edge",
        description="Township ECG cart agent: analyse, queue and upload ECGs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    analyze = sub.add_parser(
        "analyze", help="analyse ECG records and print a report (or JSON)"
    )
    analyze.add_argument(
        "paths", nargs="+", type=Path, help="record files, stems or folders"
    )
    analyze.add_argument(
        "--json", action="store_true", help="print JSON instead of a report"
    )
    analyze.add_argument(
        "--mains",
        type=float,
        choices=(50.0, 60.0),
        default=50.0,
        help="powerline frequency to notch (default 50 Hz, China)",
    )
    analyze.add_argument(
        "--no-model", action="store_true", help="triage with the rules only (no ONNX model)"
    )
    analyze.set_defaults(handler=_cmd_analyze)

    try:
        from edge_agent import agent_cli
    except ImportError:  # pragma: no cover - the agent commands are optional at first
        pass
    else:
        agent_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ecg-edge``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except EdgeAgentError as exc:
        print(f"ecg-edge: error: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    return code


def _cmd_analyze(args: argparse.Namespace) -> int:
    from edge_agent.analysis import AnalysisConfig, analyze
    from edge_agent.io import iter_record_paths, read_record
    from edge_agent.triage import load_default_model

    model = None if args.no_model else load_default_model()
    config = AnalysisConfig(mains_hz=args.mains)
    failures = 0
    documents: list[dict[str, Any]] = []
    paths: list[Path] = []
    for given in args.paths:
        try:
            paths.extend(iter_record_paths(given))
        except EdgeAgentError as exc:
            print(f"ecg-edge: error: {exc}", file=sys.stderr)
            failures += 1
    for path in paths:
        try:
            record = read_record(path)
            result = analyze(
                record.signal,
                record.fs,
                record.leads,
                age_years=record.age_years,
                sex=record.sex,
                config=config,
                model=model,
            )
        except EdgeAgentError as exc:
            print(f"ecg-edge: error: {_with_path(exc, path)}", file=sys.stderr)
            failures += 1
            continue
        doc = result.to_dict()
        doc["record"] = {
            "path": str(path),
            "format": record.format,
            "patient_id": record.patient_id,
            "age_years": record.age_years,
            "sex": record.sex,
            "acquired_at": record.acquired_at.isoformat() if record.acquired_at else None,
        }
        if args.json:
            documents.append(doc)
        else:
            write_report(doc, sys.stdout)
    if args.json:
        json.dump(documents, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    return EXIT_BAD_INPUT if failures else EXIT_OK


def _with_path(exc: EdgeAgentError, path: Path) -> str:
    if exc.path is None:
        exc.path = str(path)
    return str(exc)


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{unit}"


def write_report(doc: dict[str, Any], out: TextIO) -> None:
    """Print one analysis as a readable report for the cart operator."""
    rec = doc["record"]
    demo = " ".join(
        part
        for part in (
            rec.get("sex") or "",
            f"{rec['age_years']:.0f} y" if rec.get("age_years") is not None else "",
        )
        if part
    )
    out.write(
        f"\n== {rec['path']}  ({rec['format']}, {len(doc['leads'])} leads, "
        f"{doc['fs_hz']:g} Hz, {doc['duration_s']:.1f} s){'  ' + demo if demo else ''}\n"
    )
    tri = doc["triage"]
    out.write(f"   Priority : {tri['priority'].upper()}\n")
    for f in tri["findings"]:
        prob = f" p={f['probability']:.2f}" if f.get("probability") is not None else ""
        detail = f" - {f['detail']}" if f.get("detail") else ""
        out.write(
            f"     * {f['code']:<6} {f['label']} / {f['label_zh']}{detail}"
            f"  [{f['source']}{prob}]\n"
        )
    quality = doc["quality"]
    messages = [m for q in quality["leads"].values() for m in q["messages"]]
    if not quality["acceptable"]:
        out.write("   Quality  : UNREADABLE - no usable lead; record again\n")
    elif messages:
        out.write("   Quality  : " + "; ".join(messages) + "\n")
    else:
        out.write("   Quality  : all leads usable\n")
    for m in messages if not quality["acceptable"] else ():
        out.write(f"     ! {m}\n")
    if not quality["acceptable"]:
        return
    iv = doc["intervals_ms"]
    ax = doc["axis_deg"]
    rhythm = doc.get("rhythm") or {}
    out.write(
        f"   Rate     : {_fmt(doc['heart_rate_bpm'], ' bpm')}   beats {len(doc['rpeaks'])}"
        f"   PVC {rhythm.get('n_ventricular', 0)}   RR {_fmt(iv['rr'], ' ms')}\n"
        f"   Intervals: PR {_fmt(iv['pr'])}  QRS {_fmt(iv['qrs'])}  QT {_fmt(iv['qt'])}  "
        f"QTc {_fmt(iv['qtc_bazett'])} (Bazett) "
        f"{_fmt(iv['qtc_fridericia'])} (Fridericia) ms\n"
        f"   Axes     : P {_fmt(ax['p'])}  QRS {_fmt(ax['qrs'])}  T {_fmt(ax['t'])} deg\n"
    )
    st = doc["st_mv"]
    if st:
        cells = "  ".join(
            f"{lead} {val * 10:+.1f}" if val is not None else f"{lead} -"
            for lead, val in st.items()
        )
        out.write(f"   ST J+60  : {cells}  (mm)\n")
