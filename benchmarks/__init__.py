"""Accuracy and throughput benchmarks (run as `python -m benchmarks.NAME`)."""
