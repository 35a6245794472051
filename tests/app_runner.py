"""Running an app as a user does: `python -m apps.NAME ...` in a subprocess.

Shared by the end-to-end tests, so every one of them runs the apps the same
way (from the repository root, with it on PYTHONPATH).
"""

import gzip
import os
import struct
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A schedule of a few dozen transitions: enough to exercise every part of a
# run (both passes, RD points, checkpoints) in seconds.
TINY_AIS_FLAGS = ('--num_chains=4', '--num_intermediate=60',
                  '--num_rd_points=4', '--beta_max=10', '--min_before_first=20',
                  '--min_between=3', '--leapfrog_steps=3')
# The same for apps.rd_curve, without its accuracy check (tested on its own
# in test_accuracy.py, test_curve_run.py and test_bdmc_points.py).
TINY_CURVE_FLAGS = TINY_AIS_FLAGS + ('--bdmc_points=none',)


def run_app(module, *args, env=None):
  """Runs `python -m module args...`; returns the `CompletedProcess`."""
  full_env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
  full_env.update(env or {})
  return subprocess.run([sys.executable, '-m', module, *args], cwd=REPO,
                        env=full_env, capture_output=True, text=True,
                        timeout=600, check=False)


def signal_app_at_line(module, args, prefix, signal_number):
  """Runs `python -m module args...` and sends it `signal_number` when its
  stderr first prints a line starting with `prefix`, as a user or a batch
  scheduler would mid-run; returns (exit status, the stderr after that)."""
  process = subprocess.Popen([sys.executable, '-m', module, *args], cwd=REPO,
                             env=dict(os.environ, PYTHONPATH=REPO),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
  for line in process.stderr:
    if line.startswith(prefix):
      process.send_signal(signal_number)
      break
  _, rest = process.communicate(timeout=600)
  return process.returncode, rest


def save_linear_decoder(path, kernel, bias):
  """Saves the Keras 3 decoder z -> z·kernel + bias at `path`; returns it.

  The end-to-end tests' model: its curve has a closed form, it loads in the
  apps like any user's .keras file, and it runs in seconds.
  """
  import keras  # pylint: disable=g-import-not-at-top
  model = keras.Sequential([keras.Input((kernel.shape[0],)),
                            keras.layers.Dense(kernel.shape[1])])
  model.layers[-1].set_weights([np.asarray(kernel, np.float32),
                                np.broadcast_to(bias, kernel.shape[1:]).astype(
                                    np.float32)])
  model.save(path)
  return path


def write_mnist_test_images(data_dir, num_images):
  """Writes mnist/t10k-images-idx3-ubyte.gz of random 28x28 images.

  The raw file the benchmarks read, so their tests need neither the real
  MNIST nor a network. Returns `data_dir`.
  """
  os.makedirs(os.path.join(data_dir, 'mnist'), exist_ok=True)
  pixels = np.random.default_rng(0).integers(
      0, 256, size=(num_images, 28, 28), dtype=np.uint8)
  with gzip.open(os.path.join(data_dir, 'mnist',
                              't10k-images-idx3-ubyte.gz'), 'wb') as stream:
    stream.write(struct.pack('>IIII', 2051, num_images, 28, 28) +
                 pixels.tobytes())
  return data_dir
