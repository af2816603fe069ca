"""Checked-in generated code must match what proto/generate.py makes of the .proto files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "proto" / "ecgnet" / "v1"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_ecgnet_generate", ROOT / "proto" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_generated_code_matches_proto(tmp_path: Path) -> None:
    generated = _load_generator().generate(tmp_path)
    assert len(generated) == 3 * len(list(PACKAGE.glob("*.proto"))), f"got {generated}"
    for fresh in generated:
        checked_in = PACKAGE / fresh.name
        assert checked_in.is_file(), f"{fresh.name} is generated but not checked in"
        assert fresh.read_bytes() == checked_in.read_bytes(), (
            f"{checked_in} drifted from its .proto: run proto/generate.py"
        )
    fresh_names = {p.name for p in generated}
    stale = sorted(
        p.name
        for p in PACKAGE.iterdir()
        if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"))
        and p.name not in fresh_names
    )
    assert not stale, f"generated files without a .proto: {stale}"


def test_generated_imports_are_package_qualified() -> None:
    for path in PACKAGE.glob("*_pb2*.py"):
        text = path.read_text()
        for line in text.splitlines():
            if line.startswith("import ") and "_pb2" in line:
                raise AssertionError(f"{path.name}: top-level pb2 import {line!r}")
    from ecgnet.v1 import ingest_pb2, reading_pb2, reports_pb2

    names = {
        ingest_pb2.DESCRIPTOR.services_by_name["Ingest"].full_name,
        reading_pb2.DESCRIPTOR.services_by_name["Reading"].full_name,
        reports_pb2.DESCRIPTOR.services_by_name["Reports"].full_name,
    }
    assert names == {"ecgnet.v1.Ingest", "ecgnet.v1.Reading", "ecgnet.v1.Reports"}, (
        f"{names}"
    )
