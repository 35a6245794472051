"""Thin absl entry points over `pipelines`: `python -m apps.rd_curve`,
`apps.bdmc`, `apps.train`, `apps.linear_vae`, `apps.entropic_gan`,
`apps.compare`, `apps.reproduce`, `apps.findings`.

Importing this package has no side effect: each app's entry point
(`pipelines.jobs.run`) installs what the process needs.
"""
