"""The demo organisation: a realistic ESN written in the platforms\x27 real export formats."""
