"""--decoder_precision and --device: what the decoder computes in, and where.

Why precision is a flag. TensorFlow turns TF32 on by default: on NVIDIA
Ampere and newer GPUs a "float32" matmul then rounds its inputs to 10-bit
mantissas, and TensorFlow Probability warns, when `tfp.mcmc` is imported
with the switch on, that the loss of precision may hinder MCMC convergence.
HMC's Metropolis test is where it bites: rounding errors in the decoder
output enter the energy difference multiplied by β and do not shrink with the
step size, so at large β the acceptance rate falls (see
`adapters.precision`). So the apps run the decoder in float32 with TF32
explicitly OFF unless asked otherwise, and record the choice in curve.json:

- float32 (default): TF32 off.
- tf32: TF32 on (an effect on Ampere+ GPUs only; on a CPU it computes in
  float32, and the app says so).
- bfloat16: the Keras decoder rebuilt with a bfloat16 dtype policy.
- tf32_emulated: TF32's rounding of the matmul inputs done explicitly, so its
  effect on a curve can be measured on any device.

The latents, log-weights and HMC arithmetic stay float64 whatever the flag.

Why --device. On a machine with several GPUs (or a GPU that another job
uses) a run can be pinned to one device; an unknown device is refused before
any work, with the list of the devices TensorFlow sees, instead of
TensorFlow's soft placement quietly running elsewhere.
"""

import sys

from absl import flags
import tensorflow as tf

from adapters import precision as precision_lib

__all__ = ['define_precision_flags', 'apply_precision_flags',
           'device_from_flags', 'canonical_device', 'run_on_device',
           'run_on_device_from_flags']

FLAGS = flags.FLAGS


def define_precision_flags():
  """Defines --decoder_precision and --device."""
  flags.DEFINE_enum(
      'decoder_precision', 'float32', list(precision_lib.PRECISIONS),
      "What the decoder computes in (tfrd's latents and log-weights stay "
      "float64): 'float32' with TensorFlow's TF32 mode explicitly off "
      "(TensorFlow enables it by default on Ampere+ GPUs, and TFP warns that "
      "it can hinder MCMC convergence); 'tf32' (TF32 on: an effect on "
      "Ampere+ GPUs only); 'bfloat16' (a Keras functional or Sequential "
      "decoder rebuilt with a bfloat16 dtype policy, outputs cast to "
      "float32); 'tf32_emulated' (Dense/convolution inputs and kernels "
      'rounded to TF32 on any device, to measure its effect on a CPU).')
  flags.DEFINE_string(
      'device', None,
      'Run everything on this TensorFlow device, e.g. /GPU:0 or /CPU:0 '
      "(checked before any work against TensorFlow's logical devices); "
      "default: TensorFlow's placement.")


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


def device_from_flags():
  """`canonical_device(--device)`, or None without --device.

  Raises:
    ValueError: for an unknown device (see `canonical_device`).
  """
  if not FLAGS.device:
    return None
  return canonical_device(FLAGS.device)


def run_on_device(device, job):
  """`job()`, with every op it creates placed on `device` (None: anywhere).

  Variables created inside (a decoder's weights as it loads) live on the
  device too, and tf.functions traced inside are placed there.
  """
  if device is None:
    return job()
  with tf.device(device):
    return job()


def run_on_device_from_flags(job):
  """Checks --device, then runs `job()` on it (see `run_on_device`).

  Raises:
    ValueError: for an unknown device, before `job` is called.
  """
  return run_on_device(device_from_flags(), job)


def apply_precision_flags(decoder, program=None):
  """Applies --decoder_precision: TF32 switch and decoder.

  Sets TensorFlow's TF32 switch (on for 'tf32' only) and rebuilds the
  decoder (`adapters.precision.apply_precision`). For 'tf32' without a GPU
  (or with --device on a CPU) it says on stderr that the run computes in
  float32 and that 'tf32_emulated' measures TF32's effect.

  Args:
    decoder: the loaded decoder (a `LoadedDecoder`, before output
      conventions wrap it, so that a Keras model is still reachable).
    program: the app's name, starting the warning line.

  Returns:
    (decoder, dict for curve.json's config): {'decoder_precision',
    'tf32_execution' (the switch as set), 'device' (the --device, canonical,
    or None for TensorFlow's placement)}.

  Raises:
    ValueError: if the decoder cannot run in the precision (see
      `apply_precision`), or for an unknown --device.
  """
  precision = FLAGS.decoder_precision
  device = device_from_flags()
  tf32 = precision_lib.set_tf32_execution(precision)
  if precision == 'tf32' and not _tf32_capable(device):
    prefix = f'{program}: ' if program else ''
    sys.stderr.write(
        f'{prefix}warning: --decoder_precision=tf32 has an effect on NVIDIA '
        f'Ampere or newer GPUs only; this run computes in float32 '
        f'(--decoder_precision=tf32_emulated rounds as TF32 does on any '
        f'device).\n')
  decoder = precision_lib.apply_precision(decoder, precision)
  return decoder, {'decoder_precision': precision, 'tf32_execution': tf32,
                   'device': device}


def _tf32_capable(device):
  """Whether TF32 may act: a GPU is the device, or is visible by default."""
  if device is not None:
    return tf.DeviceSpec.from_string(device).device_type.upper() == 'GPU'
  return bool(tf.config.list_logical_devices('GPU'))
