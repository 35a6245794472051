"""absl entry points: `python -m apps.rd_curve`, `python -m apps.linear_vae`."""
