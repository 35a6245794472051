"""--strategy and --cpu_devices: one run over several devices or machines.

What each strategy does, and why it must be made before TensorFlow
initializes its devices: `pipelines.devices`.
"""

from absl import flags

from pipelines.settings import STRATEGIES

__all__ = ['define_strategy_flags', 'strategy_from_flags']

FLAGS = flags.FLAGS


def define_strategy_flags():
  """Defines --strategy and --cpu_devices."""
  flags.DEFINE_enum(
      'strategy', 'none', list(STRATEGIES),
      "Spread the images over devices with tf.distribute: 'mirrored' (all "
      "of this machine's GPUs, or --cpu_devices logical CPUs), "
      "'multi_worker' (several machines; the cluster in TF_CONFIG, the "
      'same command on every worker, worker 0 writes the results). The '
      'curve is the single-process curve of the same seed.')
  flags.DEFINE_integer(
      'cpu_devices', 0,
      'With --strategy=mirrored: split the host CPU into this many logical '
      'devices, one replica each (for testing the multi-device path '
      'without GPUs: they share the cores). 0 = do not split.')


def strategy_from_flags():
  """(strategy name, number of logical CPU devices) the flags ask for."""
  return FLAGS.strategy, FLAGS.cpu_devices
