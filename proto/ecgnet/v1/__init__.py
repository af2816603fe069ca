"""Generated code of ``package ecgnet.v1`` (regenerate with proto/generate.py)."""
