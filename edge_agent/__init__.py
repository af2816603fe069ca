"""Edge agent for the township ECG cart: read, check, analyse, triage, queue, upload."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
