"""The cardiologist's reading station: a web page served by ``ecg-central serve``.

:func:`register_routes` mounts the page and its JSON API on the central's HTTP app; the
routes call the same service layer as the gRPC servicers.
"""

from __future__ import annotations

from central_reader.web.routes import ReadingStation, register_routes
from central_reader.web.vocabulary import Statement, statements

__all__ = ["ReadingStation", "Statement", "register_routes", "statements"]
