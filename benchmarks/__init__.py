"""Accuracy and throughput benchmarks (run as `python -m benchmarks.NAME`).

They import nothing from apps/: each is an absl program of its own over
tfrd, adapters, zoo and pipelines, started by `pipelines.jobs.run`.
"""
