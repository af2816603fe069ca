"""ecg-network wire contract: generated code (``ecgnet.v1``) and the waveform codec."""
