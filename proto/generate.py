"""Regenerate the checked-in Python code for ``proto/ecgnet/v1/*.proto``.

Usage::

    .venv/bin/python proto/generate.py            # writes beside the .proto files
    .venv/bin/python proto/generate.py --out DIR  # writes into DIR/ecgnet/v1 (drift test)

Runs ``grpc_tools.protoc -I proto --python_out --pyi_out --grpc_python_out`` so that the
generated imports read ``from ecgnet.v1 import common_pb2``. The grpcio-tools version used
here sets the runtime floor (``GRPC_GENERATED_VERSION`` in the ``*_pb2_grpc.py`` files).
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = PROTO_ROOT / "ecgnet" / "v1"


class ProtocError(RuntimeError):
    """protoc returned a non-zero status."""


def proto_sources(root: Path = PROTO_ROOT) -> list[Path]:
    """The ``.proto`` files under ``root/ecgnet/v1``, sorted."""
    return sorted((root / "ecgnet" / "v1").glob("*.proto"))


def generate(out_dir: Path = PROTO_ROOT) -> list[Path]:
    """Generate ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` into ``out_dir``.

    Parameters
    ----------
    out_dir
        Root of the output tree; files land in ``out_dir/ecgnet/v1``.

    Returns
    -------
    list of Path
        The generated files, sorted.
    """
    sources = proto_sources()
    if not sources:
        raise ProtocError(f"no .proto files under {PACKAGE_DIR}")
    (out_dir / "ecgnet" / "v1").mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in sources),
    ]
    status = protoc.main(args)
    if status != 0:
        raise ProtocError(f"protoc exited with status {status}: {' '.join(args)}")
    return sorted(
        p
        for p in (out_dir / "ecgnet" / "v1").iterdir()
        if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"))
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT, help="output root")
    ns = parser.parse_args(argv)
    for path in generate(ns.out):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
