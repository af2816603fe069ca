"""The triage's name for the finding vocabulary (defined in :mod:`edge_agent.vocabulary`).

The signal core's rhythm stage and the triage both build findings from that one module, so
a code always carries the same bilingual label whichever stage raised it.
"""

from __future__ import annotations

from edge_agent.vocabulary import LABELS, Code, make_finding

__all__ = ["LABELS", "Code", "make_finding"]
