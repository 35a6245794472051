"""absl entry points: `python -m apps.rd_curve`, `apps.linear_vae`, `apps.bdmc`,
`apps.train`, `apps.entropic_gan`."""

import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

# TensorFlow's C++ start-up notices (CUDA probing, oneDNN, CPU instructions)
# would bury the apps' own output; TFRD_TF_LOGS=1 shows them again (see
# apps/_quiet_tensorflow.py). This must run before anything imports TF.
from apps import _quiet_tensorflow  # pylint: disable=g-import-not-at-top,wrong-import-position

_quiet_tensorflow.install()
