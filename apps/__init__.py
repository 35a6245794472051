"""absl entry points: `python -m apps.rd_curve`, `apps.linear_vae`, `apps.bdmc`,
`apps.train`, `apps.entropic_gan`."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, XLA notices) would bury the
# progress line; set TF_CPP_MIN_LOG_LEVEL=0 to see it again.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')
