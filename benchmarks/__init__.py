"""Accuracy and throughput benchmarks (run as `python -m benchmarks.NAME`)."""

# Same start-up as the apps: KERAS_BACKEND and no TensorFlow C++ start-up
# notices (TFRD_TF_LOGS=1 shows them; see apps/_quiet_tensorflow.py). Must run
# before anything imports TF.
from apps import _quiet_tensorflow

_quiet_tensorflow.install()
