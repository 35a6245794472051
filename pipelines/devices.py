"""Where a run computes, and in what precision: devices, TF32, strategies.

Why precision is a setting. TensorFlow turns TF32 on by default: on NVIDIA
Ampere and newer GPUs a "float32" matmul then rounds its inputs to 10-bit
mantissas, and TensorFlow Probability warns, when `tfp.mcmc` is imported
with the switch on, that the loss of precision may hinder MCMC convergence.
HMC's Metropolis test is where it bites: rounding errors in the decoder
output enter the energy difference multiplied by β and do not shrink with the
step size, so at large β the acceptance rate falls (see
`adapters.precision`). So runs compute the decoder in float32 with TF32
explicitly OFF unless asked otherwise, and record the choice in curve.json:
float32 (default), tf32 (an effect on Ampere+ GPUs only; on a CPU it
computes in float32, and the run says so), bfloat16 (the Keras decoder
rebuilt with a bfloat16 dtype policy). The latents, log-weights and HMC
arithmetic stay float64 whatever the choice.

Why a device. On a machine with several GPUs (or a GPU that another job
uses) a run can be pinned to one device; an unknown device is refused before
any work, with the list of the devices TensorFlow sees, instead of
TensorFlow's soft placement quietly running elsewhere.

Strategies. The images of a curve are independent, so `tfrd.distribute`
splits them among the replicas of a `tf.distribute` strategy and puts the
curve together again (the single-process curve of the same seed):
'mirrored' is `tf.distribute.MirroredStrategy` over this machine's GPUs, or
over logical CPU devices (the same path without GPUs: they share the cores,
so it is for checking, not for speed); 'multi_worker' is
`tf.distribute.MultiWorkerMirroredStrategy` with the cluster in the
TF_CONFIG environment variable; every worker runs the same command, its
images, and its own checkpoint; the chief (worker 0) writes the results.
`make_strategy` must run before TensorFlow initializes its devices (the
logical CPU split cannot change afterwards).
"""

import json
import os
import sys

import tensorflow as tf

from adapters import precision as precision_lib
from tfrd import distribute

__all__ = ['canonical_device', 'run_on_device',
           'apply_precision', 'check_strategy', 'make_strategy']



def canonical_device(name):
  """The logical device `name` designates, by its full TensorFlow name.

  Args:
    name: a device such as '/GPU:0', 'gpu:1', '/device:CPU:0' or
      '/job:localhost/replica:0/task:0/device:CPU:0'; a missing index means
      index 0.

  Returns:
    The device's name as `tf.config.list_logical_devices()` gives it, e.g.
    '/device:GPU:0'.

  Raises:
    ValueError: if `name` is not a device specification or no logical device
      matches it; the message lists the available devices.
  """
  devices = tf.config.list_logical_devices()
  available = ', '.join(device.name for device in devices) or 'none'
  try:
    spec = tf.DeviceSpec.from_string(name if name.startswith('/')
                                     else '/' + name)
  except (ValueError, TypeError):
    spec = None
  if spec is None or not spec.device_type:
    raise ValueError(f'--device={name} is not a device; give one of the '
                     f'available devices: {available}.')
  index = 0 if spec.device_index is None else int(spec.device_index)
  for device in devices:
    candidate = tf.DeviceSpec.from_string(device.name)
    if (candidate.device_type.upper() == spec.device_type.upper() and
        candidate.device_index == index and
        spec.job in (None, 'localhost') and spec.task in (None, 0) and
        spec.replica in (None, 0)):
      return device.name
  raise ValueError(f'--device={name}: no such device; available devices: '
                   f'{available}.')


def run_on_device(device, job):
  """`job()`, with every op it creates placed on `device` (None: anywhere).

  Variables created inside (a decoder's weights as it loads) live on the
  device too, and tf.functions traced inside are placed there.
  """
  if device is None:
    return job()
  with tf.device(device):
    return job()


def apply_precision(decoder, precision, device, program=None):
  """Applies a decoder precision: TF32 switch and decoder.

  Sets TensorFlow's TF32 switch (on for 'tf32' only) and rebuilds the
  decoder (`adapters.precision.apply_precision`). For 'tf32' without a GPU
  (or with --device on a CPU) it says on stderr that the run computes in
  float32 and that `benchmarks.precision_study` measures TF32's effect
  (by emulating its rounding).

  Args:
    decoder: the loaded decoder (a `LoadedDecoder`, before output
      conventions wrap it, so that a Keras model is still reachable).
    precision: one of `adapters.precision.PRECISIONS` ('float32', 'tf32',
      'bfloat16').
    device: None, or a device `canonical_device` accepts.
    program: the app's name, starting the warning line.

  Returns:
    (decoder, dict for curve.json's config): {'decoder_precision',
    'tf32_execution' (the switch as set), 'device' (canonical, or None for
    TensorFlow's placement)}.

  Raises:
    ValueError: if the decoder cannot run in the precision (see
      `apply_precision`), or for an unknown --device.
  """
  device = None if device is None else canonical_device(device)
  tf32 = precision_lib.set_tf32_execution(precision)
  if precision == 'tf32' and not _tf32_capable(device):
    prefix = f'{program}: ' if program else ''
    sys.stderr.write(
        f'{prefix}warning: --decoder_precision=tf32 has an effect on NVIDIA '
        f'Ampere or newer GPUs only; this run computes in float32 '
        f'(python -m benchmarks.precision_study emulates TF32\'s rounding '
        f'on any device).\n')
  decoder = precision_lib.apply_precision(decoder, precision)
  return decoder, {'decoder_precision': precision, 'tf32_execution': tf32,
                   'device': device}


def _tf32_capable(device):
  """Whether TF32 may act: a GPU is the device, or is visible by default."""
  if device is not None:
    return tf.DeviceSpec.from_string(device).device_type.upper() == 'GPU'
  return bool(tf.config.list_logical_devices('GPU'))


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


def check_strategy(strategy, cpu_devices, device=None):
  """Refuses an inconsistent strategy before any work.

  Raises:
    ValueError: with one line saying what to change.
  """
  if cpu_devices < 0:
    raise ValueError(f'--cpu_devices must be 0 or more, got '
                     f'{cpu_devices}.')
  if cpu_devices and strategy != 'mirrored':
    raise ValueError('--cpu_devices splits the CPU for --strategy=mirrored; '
                     'give --strategy=mirrored or drop --cpu_devices.')
  if strategy != 'none' and device:
    raise ValueError(f'--device pins a run to one device; --strategy='
                     f'{strategy} spreads it over several. Give one.')
  if strategy == 'multi_worker':
    _tf_config()


def make_strategy(strategy, cpu_devices=0, device=None):
  """The `tf.distribute` strategy named (None for 'none').

  Args:
    strategy: 'none', 'mirrored' or 'multi_worker'.
    cpu_devices: with 'mirrored', split the host CPU into this many logical
      devices (0: do not split).
    device: the run's --device, which a strategy may not be combined with.

  Call before anything initializes TensorFlow's devices. Creating a
  `MultiWorkerMirroredStrategy` waits until every worker of TF_CONFIG has
  started.

  Raises:
    ValueError: for inconsistent flags or TF_CONFIG (`check_strategy`).
  """
  check_strategy(strategy, cpu_devices, device)
  if strategy == 'none':
    return None
  if strategy == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  if cpu_devices:
    distribute.configure_cpu_devices(cpu_devices)
    return tf.distribute.MirroredStrategy(
        [device.name for device in tf.config.list_logical_devices('CPU')])
  return tf.distribute.MirroredStrategy()

