"""The flag every app that writes results shares (rules: pipelines.output_files)."""

from absl import flags

__all__ = ['define_overwrite_flag']


def define_overwrite_flag():
  flags.DEFINE_bool(
      'overwrite', False,
      'Replace result files of the same names already in the output '
      'location (an earlier run\'s results). Without it such files are '
      'refused before any work; other files there are never touched.')
