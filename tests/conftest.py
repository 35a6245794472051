"""Shared fixtures: small linear decoders with exact oracles."""

import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


def _marker_expression_given(args):
  return any(arg == '-m' or (arg.startswith('-m') and not arg.startswith(
      '--')) for arg in args)


def pytest_configure(config):
  """Under `bazel test`, each target runs all of its file.

  pytest.ini's addopts deselect the slow tests, the README's quick selection.
  A Bazel py_test (tests/BUILD.bazel) runs one file, and a file of slow tests
  only would then collect nothing and fail (exit status 5): there the default
  is every test, unless the command line gives its own -m.
  """
  under_bazel = os.environ.get('TEST_TARGET') and os.environ.get(
      'TEST_SRCDIR')
  if under_bazel and not _marker_expression_given(
      config.invocation_params.args):
    config.option.markexpr = ''


class LinearProblem:
  """x̂ = z·kernel + bias with data simulated near the decoder's range."""

  def __init__(self, latent_dim, data_dim, num_images, weight_scale, seed):
    rng = np.random.default_rng(seed)
    self.latent_dim = latent_dim
    self.kernel = (rng.normal(size=(latent_dim, data_dim)) *
                   weight_scale).astype(np.float32)
    self.bias = rng.uniform(0.2, 0.6, size=data_dim).astype(np.float32)
    latents = rng.normal(size=(num_images, latent_dim))
    self.data = (latents @ self.kernel + self.bias + 0.1 * rng.normal(
        size=(num_images, data_dim))).astype(np.float32)

  def keras_model(self):
    import keras  # pylint: disable=g-import-not-at-top
    model = keras.Sequential([keras.Input((self.latent_dim,)),
                              keras.layers.Dense(self.kernel.shape[1])])
    model.layers[-1].set_weights([self.kernel, self.bias])
    return model


@pytest.fixture(scope='session')
def small_linear_problem():
  return LinearProblem(latent_dim=3, data_dim=24, num_images=4,
                       weight_scale=0.4, seed=0)
