"""``python -m central_reader`` = ``ecg-central``."""

from __future__ import annotations

from central_reader.cli import main

raise SystemExit(main())
