"""Small decoders trained on MNIST by `apps.train`, shipped with the package.

Each NAME has three files here: `NAME.keras` (the decoder: codes [B, 10] ~
N(0, I) -> images [B, 28, 28, 1] in [0, 1]), `NAME.json` (its metadata,
including the exact training command) and `NAME_samples.png` (64 samples);
the entropic GAN also has `NAME_critics.keras`, the critics that
`apps.entropic_gan` needs. README.md in this folder lists the commands and
sizes.

    import zoo
    decoder_path = zoo.pretrained.path('mnist_vae_shallow_10')
    sigma = zoo.pretrained.metadata('mnist_vae_shallow_10')[
        'observation_scale']

`DEFAULT` is the decoder `apps.rd_curve` evaluates when no --model is given.
"""

import os

from zoo import metadata as metadata_lib

__all__ = ['DEFAULT', 'ENTROPIC_GAN', 'MODELS', 'names', 'path', 'metadata',
           'samples_path']

_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

MODELS = {
    'mnist_gan_shallow_10': 'non-saturating GAN with R1 penalty, code size '
                            '10, one hidden layer of 1024',
    'mnist_vae_shallow_10': 'Gaussian VAE (learned global variance), code '
                            'size 10, one hidden layer of 1024',
    'mnist_entropic_gan_shallow_10': 'entropic GAN, lambda 0.1, code size '
                                     '10, one hidden layer of 512 (with its '
                                     'critics)',
}
DEFAULT = 'mnist_gan_shallow_10'
# The entropic GAN apps.entropic_gan compares with tfrd by default.
ENTROPIC_GAN = 'mnist_entropic_gan_shallow_10'


def names():
  """The names of the pretrained decoders."""
  return sorted(MODELS)


def _check(name):
  if name not in MODELS:
    raise ValueError(f'No pretrained model {name!r}; there are '
                     f'{", ".join(names())}.')


def path(name=DEFAULT):
  """Absolute path of the `.keras` decoder `name`.

  Raises:
    ValueError: for an unknown name.
    FileNotFoundError: if the file is not installed (a package built
      without its data files).
  """
  _check(name)
  model_path = os.path.join(_DIRECTORY, f'{name}.keras')
  if not os.path.isfile(model_path):
    raise FileNotFoundError(
        f'The pretrained model {name} is not installed at {model_path}; '
        f'reinstall tfrd with its package data (zoo/pretrained/*.keras).')
  return model_path


def metadata(name=DEFAULT):
  """The metadata (JSON sidecar) of decoder `name`, as a dict."""
  return metadata_lib.read(path(name))


def samples_path(name=DEFAULT):
  """Path of the PNG grid of samples of decoder `name`."""
  _check(name)
  return os.path.join(_DIRECTORY, f'{name}_samples.png')
