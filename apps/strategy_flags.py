"""--strategy and --cpu_devices: one run over several devices or machines.

The images of a curve are independent, so `tfrd.distribute` splits them
among the replicas of a `tf.distribute` strategy and puts the curve together
again (the single-process curve of the same seed):

- --strategy=mirrored: `tf.distribute.MirroredStrategy` over this machine's
  GPUs (all that TensorFlow sees; restrict with CUDA_VISIBLE_DEVICES), or
  over --cpu_devices logical CPU devices (the same path without GPUs; the
  logical devices share the cores, so it is for checking, not for speed).
- --strategy=multi_worker: `tf.distribute.MultiWorkerMirroredStrategy` with
  the cluster in the TF_CONFIG environment variable; every worker runs the
  same command, its images, and its own checkpoint; the chief (worker 0)
  writes the results.

Everything here must run before TensorFlow initializes its devices (the
logical CPU split cannot change afterwards), so the apps call
`strategy_from_flags` first thing in their job.
"""

import json
import os

from absl import flags
import tensorflow as tf

from tfrd import distribute

__all__ = ['define_strategy_flags', 'check_strategy_flags',
           'strategy_from_flags', 'STRATEGIES']

FLAGS = flags.FLAGS

STRATEGIES = ('none', 'mirrored', 'multi_worker')


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


def _tf_config():
  """The parsed TF_CONFIG, or raise ValueError saying what is wrong."""
  text = os.environ.get('TF_CONFIG')
  if not text:
    raise ValueError(
        '--strategy=multi_worker needs the cluster in the TF_CONFIG '
        'environment variable, e.g. TF_CONFIG=\'{"cluster": {"worker": '
        '["host1:2222", "host2:2222"]}, "task": {"type": "worker", '
        '"index": 0}}\' (index: this worker).')
  try:
    config = json.loads(text)
    workers = config['cluster']['worker']
    task = config['task']
    index = int(task['index'])
  except (ValueError, KeyError, TypeError) as error:
    raise ValueError(f'TF_CONFIG is not a cluster specification with a '
                     f'"cluster" holding "worker" addresses and a "task" '
                     f'with "type" and "index" ({error!r}).') from None
  if task.get('type') not in ('worker', 'chief'):
    raise ValueError(f'TF_CONFIG: task type {task.get("type")!r}; tfrd runs '
                     f'"worker" (and "chief") tasks only.')
  if task.get('type') == 'worker' and not 0 <= index < len(workers):
    raise ValueError(f'TF_CONFIG: task index {index} is not one of the '
                     f'{len(workers)} workers.')
  return config


def check_strategy_flags():
  """Refuses inconsistent strategy flags before any work.

  Raises:
    ValueError: with one line saying what to change.
  """
  if FLAGS.cpu_devices < 0:
    raise ValueError(f'--cpu_devices must be 0 or more, got '
                     f'{FLAGS.cpu_devices}.')
  if FLAGS.cpu_devices and FLAGS.strategy != 'mirrored':
    raise ValueError('--cpu_devices splits the CPU for --strategy=mirrored; '
                     'give --strategy=mirrored or drop --cpu_devices.')
  if FLAGS.strategy != 'none' and getattr(FLAGS, 'device', None):
    raise ValueError(f'--device pins a run to one device; --strategy='
                     f'{FLAGS.strategy} spreads it over several. Give one.')
  if FLAGS.strategy == 'multi_worker':
    _tf_config()


def strategy_from_flags():
  """The strategy the flags ask for (None for --strategy=none).

  Call before anything initializes TensorFlow's devices. Creating a
  `MultiWorkerMirroredStrategy` waits until every worker of TF_CONFIG has
  started.

  Raises:
    ValueError: for inconsistent flags or TF_CONFIG (`check_strategy_flags`).
  """
  check_strategy_flags()
  if FLAGS.strategy == 'none':
    return None
  if FLAGS.strategy == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  if FLAGS.cpu_devices:
    distribute.configure_cpu_devices(FLAGS.cpu_devices)
    return tf.distribute.MirroredStrategy(
        [device.name for device in tf.config.list_logical_devices('CPU')])
  return tf.distribute.MirroredStrategy()

