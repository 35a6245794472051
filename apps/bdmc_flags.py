"""`apps.rd_curve --bdmc_points`: BDMC gaps at points of the curve just run.

What they measure and how: `pipelines.bdmc_points`.
"""

from absl import flags

from apps import number_flags
from pipelines import settings as pipeline_settings

__all__ = ['define_flags', 'bdmc_settings_from_flags']

FLAGS = flags.FLAGS


def define_flags():
  """Defines --bdmc_points and --bdmc_num_images (call once, from the app)."""
  flags.DEFINE_list(
      'bdmc_points', [],
      'Inverse temperatures at which to measure the BDMC gap of the curve '
      'after it is estimated, e.g. 1,100 (default: none). Each must lie in '
      '(0, largest beta of the schedule]; Bernoulli NLL and '
      '--gaussian_scale=decoder allow only 1. Cost: a point at beta costs '
      'about two runs of the schedule up to beta (forward AIS with the '
      'curve\'s step-size passes, then one reverse pass) on '
      '--bdmc_num_images simulated images: with the default two-pass step '
      'sizes 1.5 times what the curve spent to reach beta on as many images. '
      'The gaps go into curve.json (field "bdmc") and curve.png.')
  flags.DEFINE_integer(
      'bdmc_num_images', None,
      'Images simulated from the model at each --bdmc_points beta (default: '
      'as many as the curve\'s images).')


def bdmc_settings_from_flags():
  """The `pipelines.settings.BDMCPointSettings` the flags describe.

  Raises:
    ValueError: for values that are not numbers (the rest is checked
      against the schedule by `pipelines.bdmc_points.check_points`).
  """
  betas = tuple(sorted(set(number_flags.floats_from_flags('bdmc_points')
                          or ())))
  return pipeline_settings.BDMCPointSettings(
      betas=betas, num_images=FLAGS.bdmc_num_images)
