"""Benchmarks (`make bench`): ingest, refresh and page timings at demo and large scale."""
