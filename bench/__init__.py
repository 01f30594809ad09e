"""Benchmark of the server's own overhead: latency, throughput, memory and what goes upstream.

Run with `python -m bench` (or `python -m bench --quick`); see `bench/__main__.py`.
"""
