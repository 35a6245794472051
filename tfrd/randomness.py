"""Stateless, per-image randomness for the AIS chains.

Every random number an image's chains consume is a function of
(seed, purpose, block, image index) only. An image therefore gets the same
chains whichever batch or device it is processed in, and a run resumed from a
checkpoint draws exactly what the uninterrupted run drew. Transitions are
grouped in fixed blocks of `BLOCK_SIZE` so that one vectorized draw serves a
whole block; the block index, not the call structure, defines the numbers.
"""

import numpy as np
import tensorflow as tf

__all__ = ['BLOCK_SIZE', 'PURPOSES', 'RUN_SEED_TAGS', 'SIMULATION_SEED_TAGS',
           'POINT_SEED_TAGS', 'derive_seed', 'int32_seed', 'image_keys',
           'check_image_indices', 'per_image_uniform', 'draw_block_noise']

# Transitions per random block. Part of what defines a run's random numbers:
# changing it changes every curve, so it is recorded in each result's config.
BLOCK_SIZE = 32

_MASK64 = (1 << 64) - 1

PURPOSES = {'initial_state': 1, 'momentum': 2, 'acceptance': 3,
            'resampling': 4}

# Seed tags: derive_seed(seed, tag) gives each run made from one user seed
# streams of its own. The AIS passes of one seed (`tfrd.passes`) and the
# reverse run of BDMC must never share a tag, or a reverse chain would replay
# its forward chain's numbers. Changing a value changes every curve.
RUN_SEED_TAGS = {'preliminary': 1, 'reported': 2, 'reverse': 3}
# `tfrd.bdmc.simulate_data` derives from its own seed: latents, channel noise.
SIMULATION_SEED_TAGS = {'latents': 1, 'noise': 2}
# `tfrd.bdmc_at_points` derives each point's simulation seed and AIS seed
# from the user seed, kept apart from the run tags above.
POINT_SEED_TAGS = {'simulation': 11, 'ais': 12}


def derive_seed(*parts):
  """Mixes integers into one 63-bit seed with SplitMix64 (host-side, exact).

  Args:
    *parts: non-negative integers (a user seed, a run tag, a block index...).

  Returns:
    A Python int in [0, 2**63).
  """
  state = 0x9E3779B97F4A7C15
  for part in parts:
    state = (state ^ (int(part) & _MASK64)) & _MASK64
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    mixed = state
    mixed = ((mixed ^ (mixed >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    mixed = ((mixed ^ (mixed >> 27)) * 0x94D049BB133111EB) & _MASK64
    state = mixed ^ (mixed >> 31)
  return state >> 1


def int32_seed(*parts):
  """A TFP-style stateless seed: int32 [2] derived from `parts`."""
  mixed = derive_seed(*parts)
  return tf.constant([mixed & 0x7FFFFFFF, (mixed >> 32) & 0x7FFFFFFF],
                     tf.int32)


def check_image_indices(image_indices, num_images):
  """The images' global indices (their streams) as int64 [N].

  Args:
    image_indices: int array [N], or None for 0..N-1.
    num_images: N.

  Raises:
    ValueError: if the shape is not [N].
  """
  if image_indices is None:
    return np.arange(num_images, dtype=np.int64)
  image_indices = np.asarray(image_indices, dtype=np.int64)
  if image_indices.shape != (num_images,):
    raise ValueError(f'image_indices has shape {image_indices.shape}, '
                     f'expected ({num_images},).')
  return image_indices


def image_keys(seed, image_indices):
  """Stateless seeds [N, 2] int64: one independent stream per image."""
  image_indices = tf.cast(tf.convert_to_tensor(image_indices), tf.int64)
  return tf.stack(
      [tf.fill(tf.shape(image_indices), tf.constant(seed, tf.int64)),
       image_indices], axis=1)


@tf.function(reduce_retracing=True)
def _per_image_normal(keys, shape):
  # Not XLA-compiled on purpose: XLA implements stateless RNG differently, and
  # drawing here keeps the numbers identical with and without `jit_compile`.
  # One stateless draw per image key; pfor has no batched converter for these
  # ops, so map_fn (a loop in the graph) is what vectorized_map would become.
  return tf.map_fn(
      lambda key: tf.random.stateless_normal(shape, seed=key, dtype=tf.float64),
      keys, fn_output_signature=tf.float64)


@tf.function(reduce_retracing=True)
def _per_image_uniform(keys, shape):
  return tf.map_fn(
      lambda key: tf.random.stateless_uniform(shape, seed=key, dtype=tf.float64),
      keys, fn_output_signature=tf.float64)


def per_image_uniform(seed, image_indices, size):
  """Uniforms [N, size] float64 from each image's stream for `seed`."""
  return _per_image_uniform(image_keys(seed, image_indices),
                            tf.constant([size]))


def draw_block_noise(seed, block, image_indices, num_chains, latent_dim):
  """Momenta and acceptance log-uniforms for one block of transitions.

  Args:
    seed: the run's integer seed.
    block: block index; transitions k = 1, 2, ... belong to block
      (k - 1) // BLOCK_SIZE.
    image_indices: int [N], global indices of the images in this batch.
    num_chains: chains per image C.
    latent_dim: latent size D.

  Returns:
    (momentum [N, BLOCK_SIZE, C, D], log_uniform [N, BLOCK_SIZE, C]), float64.
  """
  shape = tf.constant([BLOCK_SIZE, num_chains, latent_dim])
  momentum = _per_image_normal(
      image_keys(derive_seed(seed, PURPOSES['momentum'], block), image_indices),
      shape)
  uniform = _per_image_uniform(
      image_keys(derive_seed(seed, PURPOSES['acceptance'], block),
                 image_indices), shape[:2])
  # Uniforms in [0, 1) can be exactly 0; log(0) = -inf still means "accept".
  return momentum, tf.math.log(uniform)
