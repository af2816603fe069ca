"""Readers and writers of cart export formats into the array contract."""
