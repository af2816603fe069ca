"""Edge agent for the township ECG cart: read, check, analyse, triage, queue, upload.

The public entry point is :func:`edge_agent.analyze` (see :mod:`edge_agent.analysis`). It is
imported lazily so that ``import edge_agent`` (the CLI, the outbox) does not pay for scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from edge_agent.analysis import Analysis, analyze

__all__ = ["Analysis", "__version__", "analyze"]


def __getattr__(name: str) -> Any:
    if name in ("analyze", "Analysis"):
        from edge_agent import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'edge_agent' has no attribute {name!r}")
