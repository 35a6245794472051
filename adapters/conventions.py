"""Bring decoder outputs to the data's convention: NHWC pixels in [0, 1].

Data come as NHWC images with pixels in [0, 1] (TFDS MNIST / CIFAR-10, and
what `npz:` data should hold). Decoders often differ: PyTorch-style NCHW
layouts, tanh outputs in [-1, 1], Bernoulli logits, flattened outputs, or a
Gaussian observation model returning a mean and a log-variance.
`apply_output_convention` wraps a `LoadedDecoder` so that its outputs are
compared with the data element by element:

1. flattened outputs [B, E] are reshaped to `flattened_image_shape` (given in
   the decoder's own layout, e.g. (C, H, W) for NCHW);
2. NCHW outputs are transposed to NHWC;
3. 'image' outputs in [-1, 1] are mapped to [0, 1] with (x + 1) / 2;
   'logits' go through a sigmoid (unless kept raw for a Bernoulli NLL with
   `from_logits`); a 'mean_logvar' decoder's mean is mapped like an image
   and its log-variance shifted by -log 4 (the variance of (x + 1) / 2 is a
   quarter of x's), and the call returns ONE tensor [B, 2·E]: the flattened
   NHWC mean followed by the flattened NHWC log-variance, the layout that
   `tfrd.GaussianNLL(scale='decoder')` splits in half.
"""

import math

import numpy as np
import tensorflow as tf

from adapters.keras_decoder import LoadedDecoder
from adapters.keras_decoder import ModelError

__all__ = ['LAYOUTS', 'VALUE_RANGES', 'OUTPUT_KINDS', 'apply_output_convention',
           'describe_convention']

LAYOUTS = ('nhwc', 'nchw')
VALUE_RANGES = ('0_1', '-1_1')
OUTPUT_KINDS = ('image', 'mean_logvar', 'logits')

# log of the variance factor of x -> (x + 1) / 2.
_LOG_QUARTER = -math.log(4.0)


def _check_choices(layout, value_range, output_kind, keep_logits):
  for name, value, choices in (('layout', layout, LAYOUTS),
                               ('value_range', value_range, VALUE_RANGES),
                               ('output_kind', output_kind, OUTPUT_KINDS)):
    if value not in choices:
      raise ValueError(f'{name} must be one of {", ".join(choices)}; got '
                       f'{value!r}.')
  if output_kind == 'logits' and value_range != '0_1':
    raise ValueError("Logits have no value range; use value_range='0_1' "
                     "with output_kind='logits' (the sigmoid gives [0, 1]).")
  if keep_logits and output_kind != 'logits':
    raise ValueError("keep_logits applies to output_kind='logits' only.")


def describe_convention(layout='nhwc', value_range='0_1', output_kind='image',
                        flattened_image_shape=None, keep_logits=False):
  """What `apply_output_convention` does with these arguments, for curve.json.

  Args:
    layout, value_range, output_kind, flattened_image_shape, keep_logits: as
      for `apply_output_convention`.

  Returns:
    A JSON-serializable dict: the arguments and a list of the steps applied
    to the decoder's outputs, in order.

  Raises:
    ValueError: for an unknown layout, range or kind, or inconsistent ones.
  """
  _check_choices(layout, value_range, output_kind, keep_logits)
  steps = []
  if flattened_image_shape is not None:
    steps.append(f'reshape flat outputs to {tuple(flattened_image_shape)} '
                 f'({layout.upper()})')
  if layout == 'nchw':
    steps.append('transpose NCHW to NHWC')
  if output_kind == 'image' and value_range == '-1_1':
    steps.append('map [-1, 1] to [0, 1]: (x + 1) / 2')
  elif output_kind == 'logits':
    steps.append('keep raw logits (Bernoulli NLL from_logits)' if keep_logits
                 else 'sigmoid(logits): Bernoulli means in [0, 1]')
  elif output_kind == 'mean_logvar':
    if value_range == '-1_1':
      steps.append('map mean from [-1, 1] to [0, 1]: (mean + 1) / 2; '
                   'log-variance - log 4')
    steps.append('concatenate flattened mean and log-variance: [B, 2E]')
  return {
      'output_layout': layout,
      'output_range': value_range,
      'output_kind': output_kind,
      'flattened_image_shape': (None if flattened_image_shape is None else
                                [int(d) for d in flattened_image_shape]),
      'keep_logits': bool(keep_logits),
      'steps': steps,
      'result': ('NHWC logits' if keep_logits else
                 'NHWC mean and log-variance, flattened and concatenated'
                 if output_kind == 'mean_logvar' else
                 'NHWC values in [0, 1]'),
  }


def apply_output_convention(decoder, layout='nhwc', value_range='0_1',
                            output_kind='image', flattened_image_shape=None,
                            keep_logits=False):
  """Wraps `decoder` so that it returns NHWC images in the data's range.

  Args:
    decoder: a `LoadedDecoder` (see `adapters.models.load_decoder`; a
      mean/log-variance decoder with two outputs needs
      `allow_multiple_outputs=True` there).
    layout: 'nhwc' or 'nchw', the decoder's output layout.
    value_range: '0_1' or '-1_1' (tanh), the range of the decoder's images
      (of its mean, for 'mean_logvar').
    output_kind: 'image' (pixel values), 'logits' (Bernoulli logits) or
      'mean_logvar' (a list/tuple of two tensors, or one tensor [B, 2, ...]
      with mean then log-variance along axis 1, or one flat tensor [B, 2·E]
      whose halves are the flattened mean and log-variance).
    flattened_image_shape: per-example image shape in the decoder's layout
      ((H, W, C) or (C, H, W)) of flat outputs [B, E]; needed to transpose
      flat NCHW outputs, optional otherwise.
    keep_logits: with 'logits', return the raw logits (for
      `tfrd.BernoulliNLL(from_logits=True)`) instead of their sigmoid.

  Returns:
    A new `LoadedDecoder` whose `output_shape` is the per-example NHWC image
    shape (the mean's, for 'mean_logvar', while a call returns [B, 2·E]),
    `output_kind` is 'image', 'logits' (kept raw) or 'mean_logvar', and whose
    `transforms` end with `describe_convention(...)`.

  Raises:
    ValueError: for unknown or inconsistent arguments.
    ModelError: if the decoder's outputs do not fit the convention (several
      outputs for an image, NCHW outputs that are not [B, C, H, W], a flat
      size that does not match `flattened_image_shape`).
  """
  description = describe_convention(layout, value_range, output_kind,
                                    flattened_image_shape, keep_logits)
  source = decoder.source or 'The decoder'
  raw_shapes = decoder.raw_output_shapes
  split = None
  if output_kind == 'mean_logvar':
    part_shape, split = _mean_logvar_layout(raw_shapes, flattened_image_shape,
                                            source)
  else:
    if len(raw_shapes) != 1:
      raise ModelError(f'{source} returns {len(raw_shapes)} outputs; an '
                       f'{output_kind} decoder returns one tensor.')
    part_shape = raw_shapes[0]

  reshape_to = None
  if flattened_image_shape is not None:
    flattened_image_shape = tuple(int(d) for d in flattened_image_shape)
    size = int(np.prod(flattened_image_shape))
    if part_shape == flattened_image_shape:
      pass
    elif len(part_shape) == 1 and part_shape[0] == size:
      reshape_to = flattened_image_shape
    else:
      raise ModelError(
          f'{source} outputs per-example shape {part_shape}, which cannot be '
          f'reshaped to flattened_image_shape {flattened_image_shape}.')
  layout_shape = reshape_to or part_shape
  if layout == 'nchw':
    if len(layout_shape) != 3:
      raise ModelError(
          f'{source} outputs per-example shape {layout_shape}; NCHW outputs '
          f'must be (C, H, W) (give flattened_image_shape for flat outputs).')
    channels, height, width = layout_shape
    image_shape = (height, width, channels)
  else:
    image_shape = layout_shape

  def to_nhwc(x):
    if reshape_to is not None:
      x = tf.reshape(x, (-1,) + reshape_to)
    if layout == 'nchw':
      x = tf.transpose(x, [0, 2, 3, 1])
    return x

  if output_kind == 'mean_logvar':
    half = int(np.prod(image_shape))

    def call(latents):
      mean, log_variance = _split_mean_logvar(decoder(latents), split)
      mean, log_variance = to_nhwc(mean), to_nhwc(log_variance)
      if value_range == '-1_1':
        mean = (mean + 1.0) / 2.0
        log_variance = log_variance + tf.cast(_LOG_QUARTER, log_variance.dtype)
      return tf.concat([tf.reshape(mean, [-1, half]),
                        tf.reshape(log_variance, [-1, half])], axis=-1)

    raw_output_shapes = [(2 * half,)]
    kind = 'mean_logvar'
  else:

    def call(latents):
      outputs = decoder(latents)
      if isinstance(outputs, (list, tuple)):
        (outputs,) = outputs
      x = to_nhwc(outputs)
      if output_kind == 'logits':
        return x if keep_logits else tf.sigmoid(x)
      if value_range == '-1_1':
        return (x + 1.0) / 2.0
      return x

    raw_output_shapes = [image_shape]
    kind = 'logits' if keep_logits else 'image'
  return LoadedDecoder(call, decoder.latent_dim, image_shape,
                       dtype=decoder.dtype, source=decoder.source,
                       format=decoder.format, output_kind=kind,
                       raw_output_shapes=raw_output_shapes,
                       transforms=decoder.transforms + (
                           dict(description, transform='output_convention'),))


def _mean_logvar_layout(raw_shapes, flattened_image_shape, source):
  """(per-example shape of the mean, how to split the outputs)."""
  if len(raw_shapes) == 2:
    if raw_shapes[0] != raw_shapes[1]:
      raise ModelError(f'{source} returns a mean of shape {raw_shapes[0]} and '
                       f'a log-variance of shape {raw_shapes[1]}; they must '
                       f'match.')
    return raw_shapes[0], 'pair'
  if len(raw_shapes) != 1:
    raise ModelError(f'{source} returns {len(raw_shapes)} outputs; a '
                     f'mean_logvar decoder returns two (mean, log-variance) '
                     f'or one tensor holding both.')
  (shape,) = raw_shapes
  if flattened_image_shape is not None and len(shape) == 1:
    size = int(np.prod(flattened_image_shape))
    if shape[0] == 2 * size:
      return (size,), 'halves'
  if len(shape) >= 2 and shape[0] == 2:
    return shape[1:], 'stacked'
  raise ModelError(
      f'{source} returns one tensor of per-example shape {shape}; a '
      f'mean_logvar decoder returns [mean, log-variance], one tensor '
      f'[B, 2, ...], or a flat [B, 2E] with flattened_image_shape given.')


def _split_mean_logvar(outputs, split):
  if split == 'pair':
    mean, log_variance = outputs
    return mean, log_variance
  if isinstance(outputs, (list, tuple)):
    (outputs,) = outputs
  if split == 'stacked':
    return outputs[:, 0], outputs[:, 1]
  mean, log_variance = tf.split(outputs, 2, axis=-1)
  return mean, log_variance
