"""What the linear-decoder studies share: their common flags and decoder.

`benchmarks.accuracy_study` and `benchmarks.precision_study` both measure AIS
against the closed form of a linear Gaussian decoder fitted to MNIST as
`apps.linear_vae` fits it (probabilistic PCA), or, without MNIST, against a
synthetic one of the same shape. The flags that choose that decoder and
where results go are defined here once, so that the two studies cannot
drift apart; each study still defines the flags whose defaults depend on
its own cost (images, chains, XLA, seed wording).

A study calls `define_output_flags` and `define_linear_decoder_flags` at
import time and `flags.adopt_module_key_flags(study_flags)`, so that the
flags show in its --help as its own; `linear_decoder_from_flags` turns them
into a `LinearDecoderSettings`, and `linear_problem` gives the decoder it
describes.
"""

import collections
import dataclasses
import sys

from absl import flags
import numpy as np

__all__ = ['define_output_flags', 'define_linear_decoder_flags',
           'LinearDecoderSettings', 'linear_decoder_from_flags',
           'LinearProblem', 'linear_problem']

FLAGS = flags.FLAGS

# The synthetic decoder stands in for MNIST's: 784 outputs, and a fixed seed,
# so that its figures are a function of the flags.
_SYNTHETIC_OUTPUTS = 784
_SYNTHETIC_SEED = 1234
_SYNTHETIC_NOISE_SCALE = 0.2


def define_output_flags(program, outputs, quick_help):
  """Defines --output_dir (default PROGRAM_output) and --quick.

  Args:
    program: the study's name, e.g. 'precision_study'.
    outputs: what --output_dir receives, e.g. 'precision_study.json'.
    quick_help: the help of --quick (how small and fast the smoke run is).
  """
  flags.DEFINE_string('output_dir', f'{program}_output',
                      f'Directory for {outputs}.')
  flags.DEFINE_bool('quick', False, quick_help)


def define_linear_decoder_flags(num_train_default, num_train_help):
  """Defines --data, --data_dir, --latent_dim and --num_train.

  Args:
    num_train_default: the default of --num_train (None: decided by the
      study, e.g. smaller with --quick).
    num_train_help: the help of --num_train.
  """
  flags.DEFINE_enum('data', 'auto', ['auto', 'mnist', 'synthetic'],
                    "The linear decoder: fitted to MNIST ('auto': if MNIST "
                    'can be loaded) or synthetic.')
  flags.DEFINE_string('data_dir', None,
                      'Directory with mnist/ raw files (default: '
                      '$TFRD_DATA_DIR).')
  flags.DEFINE_integer('latent_dim', 10, 'Latent size of the linear decoder.')
  flags.DEFINE_integer('num_train', num_train_default, num_train_help)


@dataclasses.dataclass(frozen=True)
class LinearDecoderSettings:
  """The linear decoder of a study, as --data, --data_dir, --latent_dim and
  --num_train describe it.

  Attributes:
    data: 'auto' (fitted to MNIST if it can be loaded, else synthetic),
      'mnist' or 'synthetic'.
    data_dir: a directory holding mnist/ with the raw files (None:
      $TFRD_DATA_DIR).
    latent_dim: the decoder's latent size.
    num_train: MNIST training images to fit to (None: the study decides).
  """
  data: str = 'auto'
  data_dir: str = None
  latent_dim: int = 10
  num_train: int = None


def linear_decoder_from_flags():
  """The `LinearDecoderSettings` of the flags `define_linear_decoder_flags`
  defined."""
  return LinearDecoderSettings(data=FLAGS.data, data_dir=FLAGS.data_dir,
                               latent_dim=FLAGS.latent_dim,
                               num_train=FLAGS.num_train)


class LinearProblem(
    collections.namedtuple('LinearProblem',
                           ['decoder', 'test', 'noise_scale', 'num_fitted'])):
  """A study's linear decoder and its test images.

  Attributes:
    decoder: the Keras decoder x̂ = z·kernel + bias (float32 weights).
    test: float32 [num_test, 784] test images.
    noise_scale: the fitted maximum-likelihood σ, or 0.2 (the synthetic
      images' noise).
    num_fitted: MNIST training images the decoder was fitted to; None for
      the synthetic decoder.
  """
  __slots__ = ()


def linear_problem(program, settings, num_test):
  """The decoder `settings` describe.

  Args:
    program: the study's name, starting its stderr line when data='auto'
      falls back to the synthetic decoder.
    settings: a `LinearDecoderSettings` whose num_train is set.
    num_test: test images to return.

  Returns:
    A `LinearProblem`.

  Raises:
    adapters.datasets.DatasetError: with data='mnist', if MNIST cannot be
      loaded.
  """
  from zoo import linear_gaussian  # pylint: disable=g-import-not-at-top
  latent_dim = settings.latent_dim
  if settings.data in ('auto', 'mnist'):
    from adapters import datasets  # pylint: disable=g-import-not-at-top
    try:
      train = datasets.load_dataset('mnist', settings.num_train,
                                    split='train', data_dir=settings.data_dir)
      test = datasets.load_dataset('mnist', num_test, split='test',
                                   data_dir=settings.data_dir)
    except datasets.DatasetError as error:
      if settings.data == 'mnist':
        raise
      sys.stderr.write(f'{program}: MNIST unavailable ({error}); using a '
                       f'synthetic linear decoder.\n')
    else:
      kernel, bias, scale = linear_gaussian.fit_linear_gaussian(train,
                                                                latent_dim)
      return LinearProblem(
          linear_gaussian.make_linear_decoder(kernel, bias),
          test.reshape(test.shape[0], -1).astype(np.float32), scale,
          train.shape[0])
  rng = np.random.default_rng(_SYNTHETIC_SEED)
  # MNIST-like scale: 784 pixels, principal directions of decreasing size.
  kernel = (rng.normal(size=(latent_dim, _SYNTHETIC_OUTPUTS)) /
            np.sqrt(_SYNTHETIC_OUTPUTS) *
            np.linspace(6.0, 1.5, latent_dim)[:, None])
  bias = rng.uniform(0.0, 0.3, size=_SYNTHETIC_OUTPUTS)
  test = (rng.normal(size=(num_test, latent_dim)) @ kernel + bias +
          _SYNTHETIC_NOISE_SCALE * rng.normal(
              size=(num_test, _SYNTHETIC_OUTPUTS)))
  return LinearProblem(linear_gaussian.make_linear_decoder(kernel, bias),
                       test.astype(np.float32), _SYNTHETIC_NOISE_SCALE, None)
