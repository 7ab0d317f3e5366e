"""The demo organisation: a realistic ESN written in the platforms' real export formats."""
