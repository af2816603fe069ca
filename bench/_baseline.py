"""A module as it was committed at some revision, for before/after benchmarks.

The benchmarks that compare rules before and after a change load the committed source
with ``git show`` into a fresh module object: no working-tree file is touched, so other
work in progress in the same checkout is not disturbed.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_at(revision: str, path: str, name: str) -> types.ModuleType:
    """Execute ``path`` as committed at ``revision`` and return it as module ``name``."""
    src = subprocess.run(
        ["git", "show", f"{revision}:{path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    exec(compile(src, f"{revision}:{path}", "exec"), mod.__dict__)
    return mod
