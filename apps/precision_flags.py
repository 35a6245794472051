"""--decoder_precision and --device: what the decoder computes in, and where.

Why they are flags, and what each choice does: `pipelines.devices`.
"""

from absl import flags

__all__ = ['define_precision_flags', 'precision_from_flags']

FLAGS = flags.FLAGS

# adapters.precision.PRECISIONS, named here without loading TensorFlow
# (tests/test_precision.py checks that they agree).
PRECISIONS = ('float32', 'tf32', 'bfloat16')


def define_precision_flags():
  """Defines --decoder_precision and --device."""
  flags.DEFINE_enum(
      'decoder_precision', 'float32', list(PRECISIONS),
      "What the decoder computes in (tfrd's latents and log-weights stay "
      "float64): 'float32' with TensorFlow's TF32 mode explicitly off "
      "(TensorFlow enables it by default on Ampere+ GPUs, and TFP warns that "
      "it can hinder MCMC convergence); 'tf32' (TF32 on: an effect on "
      "Ampere+ GPUs only; benchmarks.precision_study measures its effect "
      "on a CPU by emulating it); 'bfloat16' (a Keras functional or "
      "Sequential decoder rebuilt with a bfloat16 dtype policy, outputs "
      "cast to float32).")
  flags.DEFINE_string(
      'device', None,
      'Run everything on this TensorFlow device, e.g. /GPU:0 or /CPU:0 '
      "(checked before any work against TensorFlow's logical devices); "
      "default: TensorFlow's placement.")


def precision_from_flags():
  """The flags as `ModelSettings` fields: precision and device."""
  return dict(precision=FLAGS.decoder_precision, device=FLAGS.device or None)
