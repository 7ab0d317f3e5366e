"""Metrics: turn the store into the numbers the three audiences read, private by construction."""
