"""Stateless, per-image randomness for the AIS chains.

Every random number an image's chains consume is a function of
(seed, purpose, image index, position) only. An image therefore gets the same
chains whichever batch or device it is processed in, and a run resumed from a
checkpoint draws exactly what the uninterrupted run drew.

The HMC noise, one momentum vector and one acceptance uniform per chain and
transition, is most of it. `transition_noise` draws it inside the compiled
AIS loop (`tfrd.ais`), from a few integers:

- Invariant: the momentum of image i at transition k, chain c, dimension d,
  and its acceptance uniform, are a function of (run seed, purpose, i, k - 1,
  c, d) only, where k - 1 = block·`BLOCK_SIZE` + offset. They do not depend
  on the batch the image is in, on the device, on how the transitions are
  chunked, on the number of chains or dimensions drawn beside them, nor on
  whether the loop runs under XLA, in graph mode or eagerly: bit for bit.
  `tests/test_gpu_readiness.py` checks it (`test_noise_is_per_image`,
  `test_noise_is_identical_under_xla_graph_and_eager`,
  `test_block_noise_is_transition_noise`,
  `test_chunking_does_not_change_the_chain`, `test_xla_and_graph_runs_agree`),
  checks the generator against TF's own Philox and the published known
  answers, and checks the numbers' distribution and independence.
- Generator: Philox-4x32-10 (Salmon et al., 2011, "Parallel random numbers:
  as easy as 1, 2, 3"; the counter-based generator TF's stateless ops use on
  CPU and GPU), keyed by the purpose's 63-bit seed (`noise_keys`), with the
  counter (dimension, chain, transition, image). Each number is an
  elementwise function of its own counter, so a transition's [N, C, D]
  momenta are one vectorized computation with no loop over images, no state
  and no host round trip, which XLA fuses into the transition loop.
- Numbers: uniforms from 53 bits, u = (m + 1)·2**-53 in (0, 1]; the
  acceptance test gets log u; each momentum coordinate is the cos output of
  Box–Muller, sqrt(-2 log u1)·cos(2π u2), from one Philox block.
- Fixed point, not float: log and cos are polynomials evaluated in 60-bit
  fixed point with int64 arithmetic. XLA and TF's graph kernels compute
  float64 log differently (on CPU about one value in five differs in its last
  bit) and XLA contracts a·b + c into fused multiply-adds, so float
  polynomials would give other numbers under `jit_compile=True` than in the
  graph-mode fallback. The only float operations are single, correctly
  rounded IEEE-754 ones (conversions between int and float, one addition,
  one division, one square root), which every backend computes alike, and
  the normals leave as exact multiples of 2**-49 (within 1e-14 of exact
  Box–Muller on the same bits; log u within half an ulp at its extreme).

Why not `tf.random.stateless_*`: they take one seed per call and have no
batched form with one key per image, so per-image streams need a `tf.map_fn`
over the images (pfor has no converter for them): one small kernel launch
per image on a GPU. And under XLA they lower to XLA's own bit generator and
give entirely different numbers than in graph mode, so they could not move
into the compiled loop without making the `jit_compile='auto'` fallback draw
other chains than the XLA run.

The few draws made once per pass or RD point outside the loop (initial
states, resampling at RD points: `per_image_uniform`, `int32_seed`) still use
the stateless TF ops on per-image seeds.
"""
import decimal
import fractions
import math

import numpy as np
import tensorflow as tf

__all__ = ['BLOCK_SIZE', 'PURPOSES', 'RUN_SEED_TAGS', 'SIMULATION_SEED_TAGS',
           'POINT_SEED_TAGS', 'NOISE_GENERATOR', 'derive_seed', 'point_seed',
           'int32_seed',
           'image_keys', 'check_image_indices', 'per_image_uniform',
           'noise_keys', 'philox4x32', 'transition_noise', 'draw_block_noise']

# Transitions per random block. The chunks of the AIS loop never cross a
# block (`tfrd.ais.chunk_boundaries`), so a block is the most a compiled chunk
# runs; the noise itself is keyed by the transition index.
BLOCK_SIZE = 32

# Names the HMC noise generator: changing how `transition_noise` maps
# counters to numbers changes every curve, so it belongs in what a result or
# checkpoint records.
NOISE_GENERATOR = 'philox4x32-10, fixed-point Box-Muller (v1)'

_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1

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
# from the user seed, kept apart from the run tags above; the schedule
# search's measurement of Var_β[d] (`tfrd.accuracy.measure_speed`) its AIS
# seed.
POINT_SEED_TAGS = {'simulation': 11, 'ais': 12, 'speed': 13}


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



def point_seed(seed, tag, beta):
  """The seed of a BDMC point's runs at `beta`: from the user `seed`, the
  `POINT_SEED_TAGS[tag]` and β's bits, not the point's position, so the
  data and chains at β are the same whichever other points are asked for.
  """
  beta_bits = int(np.float64(beta).view(np.uint64))
  return derive_seed(seed, POINT_SEED_TAGS[tag], beta_bits)

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
def _per_image_uniform(keys, shape):
  # One stateless draw per image key (see the module docstring): only for the
  # few draws per pass and RD point made outside the compiled loop.
  return tf.map_fn(
      lambda key: tf.random.stateless_uniform(shape, seed=key, dtype=tf.float64),
      keys, fn_output_signature=tf.float64)


def per_image_uniform(seed, image_indices, size):
  """Uniforms [N, size] float64 from each image's stream for `seed`."""
  return _per_image_uniform(image_keys(seed, image_indices),
                            tf.constant([size]))


# --- The HMC noise generator: Philox-4x32-10 and fixed-point Box–Muller. ---

_PHILOX_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_PHILOX_KEY_INCREMENTS = (0x9E3779B9, 0xBB67AE85)
_PHILOX_ROUNDS = 10

# Fixed point: an int64 v stands for v·2**-60 (angles, cos, the log series)
# or v·2**-55 (-log u, up to 53·log 2).
_FRACTION_BITS = 60
_ONE = 1 << _FRACTION_BITS
_HALF_BITS = _FRACTION_BITS // 2
_RADIUS_BITS = 49  # the normals' resolution: exact float64 multiples of 2**-49


def _exact_constants():
  """Fixed-point constants, rounded from exact or 60-digit values."""
  with decimal.localcontext() as context:
    context.prec = 60
    ln2 = decimal.Decimal(2).ln()
    pi = decimal.Decimal(
        '3.14159265358979323846264338327950288419716939937510582097494459')
    ln2_q55 = int((ln2 * (1 << 55)).to_integral_value())
    quarter_pi = int((pi / 4 * _ONE).to_integral_value())
  fixed = lambda numerator, denominator: round(
      fractions.Fraction(numerator * _ONE, denominator))
  # cos θ for θ in [0, π/2] as a series in y = (θ/2)**2 in [0, 0.62] (so
  # that rounding errors shrink through Horner's scheme), to the θ**22 term;
  # the first one left out is below 2**-63. The atanh series for |s| < 0.172
  # goes to s**23, the first one left out below 2**-62.
  cosine = [fixed((-4) ** k, math.factorial(2 * k)) for k in range(12)]
  atanh = [fixed(1, 2 * k + 1) for k in range(12)]
  # floor(√2·2**52): mantissas above it are halved, so that log's argument
  # is in [1/√2, √2].
  sqrt2_q52 = math.isqrt(2 << 104)
  return ln2_q55, quarter_pi, cosine, atanh, sqrt2_q52


(_LN2_Q55, _QUARTER_PI, _COSINE_SERIES, _ATANH_SERIES,
 _SQRT2_Q52) = _exact_constants()


def _shift_right(value, bits):
  # Arithmetic shift: floor division by 2**bits, for negative values too.
  return tf.bitwise.right_shift(value, tf.constant(bits, tf.int64))


def _shift_left(value, bits):
  return tf.bitwise.left_shift(value, tf.constant(bits, tf.int64))


def _low_bits(value, bits):
  return tf.bitwise.bitwise_and(value, tf.constant((1 << bits) - 1, tf.int64))


def _xor(*values):
  result = values[0]
  for value in values[1:]:
    result = tf.bitwise.bitwise_xor(result, value)
  return result


def philox4x32(counter, key):
  """Philox-4x32-10, elementwise on int64 tensors holding 32-bit words.

  The bijection of Salmon et al. (2011), "Parallel random numbers: as easy as
  1, 2, 3", the one TF's stateless ops use on CPU and GPU
  (`tests/test_gpu_readiness.py` checks it against them and against the
  paper's known answers).

  Args:
    counter: 4 int64 tensors (broadcastable) of words in [0, 2**32).
    key: 2 int64 tensors (broadcastable) of words in [0, 2**32).

  Returns:
    4 int64 tensors of words in [0, 2**32), the broadcast shape.
  """
  # The 32x32 -> 64-bit products are exact in uint64 (never above 2**64 - 1);
  # the round keys, below 2**33, are made in int64.
  as_unsigned = lambda word: tf.bitcast(word, tf.uint64)
  mask = tf.constant(_MASK32, tf.uint64)
  shift = tf.constant(32, tf.uint64)
  multipliers = [tf.constant(m, tf.uint64) for m in _PHILOX_MULTIPLIERS]
  c0, c1, c2, c3 = (as_unsigned(tf.convert_to_tensor(word, tf.int64))
                    for word in counter)
  k0, k1 = (tf.convert_to_tensor(word, tf.int64) for word in key)
  for round_index in range(_PHILOX_ROUNDS):
    round_keys = [as_unsigned(_low_bits(k + round_index * increment, 32))
                  for k, increment in zip((k0, k1), _PHILOX_KEY_INCREMENTS)]
    product0 = c0 * multipliers[0]
    product1 = c2 * multipliers[1]
    c0, c1, c2, c3 = (
        _xor(tf.bitwise.right_shift(product1, shift), c1, round_keys[0]),
        tf.bitwise.bitwise_and(product1, mask),
        _xor(tf.bitwise.right_shift(product0, shift), c3, round_keys[1]),
        tf.bitwise.bitwise_and(product0, mask))
  return tuple(tf.bitcast(word, tf.int64) for word in (c0, c1, c2, c3))


def _bits53(high, low):
  """53 random bits [0, 2**53) from two 32-bit words."""
  return tf.bitwise.bitwise_or(_shift_left(high, 21), _shift_right(low, 11))


def _mul_fixed(a, b):
  """a·b·2**-60 (within 2·2**-60) for int64 fixed-point a, b.

  Needs |a|, |b| < 2**62 and |a·b| < 2**122: the partial products of the
  30-bit halves then fit in int64.
  """
  a_high, a_low = _shift_right(a, _HALF_BITS), _low_bits(a, _HALF_BITS)
  if isinstance(b, int):
    b_high, b_low = b >> _HALF_BITS, b & ((1 << _HALF_BITS) - 1)
  else:
    b_high, b_low = _shift_right(b, _HALF_BITS), _low_bits(b, _HALF_BITS)
  middle = a_high * b_low + a_low * b_high + _shift_right(a_low * b_low,
                                                          _HALF_BITS)
  return a_high * b_high + _shift_right(middle, _HALF_BITS)


def _series(coefficients, y):
  """Σ_k coefficients[k]·y**k in fixed point (Horner), within 4·2**-60.

  Needs 0 <= y < 1 and partial sums below 2**62 in magnitude.
  """
  # y is split into 30-bit halves once; each step then takes three products,
  # leaving out the low halves' (below 2**-60).
  y_high, y_low = _shift_right(y, _HALF_BITS), _low_bits(y, _HALF_BITS)
  result = _mul_fixed(y, coefficients[-1]) + coefficients[-2]
  for coefficient in reversed(coefficients[:-2]):
    high, low = _shift_right(result, _HALF_BITS), _low_bits(result, _HALF_BITS)
    result = (high * y_high + coefficient +
              _shift_right(high * y_low + low * y_high, _HALF_BITS))
  return result


def _neg_log_q55(bits):
  """-log(u)·2**55 as int64, u = (bits + 1)·2**-53 in (0, 1]."""
  x = bits + 1
  # x <= 2**53 converts exactly; its exponent and mantissa are then exact
  # integer operations: x = f·2**e with f in [1/√2, √2].
  word = tf.bitcast(tf.cast(x, tf.float64), tf.int64)
  mantissa = _low_bits(word, 52)
  halve = tf.cast(mantissa > _SQRT2_Q52 - (1 << 52), tf.int64)
  exponent = _shift_right(word, 52) - 1023 + halve
  f = tf.bitcast(
      tf.bitwise.bitwise_or(_shift_left(1023 - halve, 52), mantissa),
      tf.float64)
  # f - 1 is exact; f + 1 and the division are single correctly rounded
  # operations, the same on every IEEE-754 backend.
  s = (f - 1.0) / (f + 1.0)
  s = tf.cast(s * float(_ONE), tf.int64)  # |s| < 0.172, exact scaling
  # log f = 2·atanh(s) = 2s·Σ s**(2k) / (2k + 1).
  log_f = 2 * _mul_fixed(s, _series(_ATANH_SERIES, _mul_fixed(s, s)))
  return (53 - exponent) * _LN2_Q55 - _shift_right(log_f, _FRACTION_BITS - 55)


def _cos_two_pi(bits):
  """cos(2πv)·2**60 as int64, v = bits·2**-53 in [0, 1)."""
  # Fold v into [0, 1/4]: cos 2πv = cos 2π(1 - v) = -cos 2π(1/2 - v).
  v = tf.where(bits > (1 << 52), (1 << 53) - bits, bits)
  negate = v > (1 << 51)
  v = tf.where(negate, (1 << 52) - v, v)
  # θ/2 = πv = (π/4)·4v, where 4v in [0, 1] is v << 9 in 2**-60 units.
  half_theta = _mul_fixed(_shift_left(v, 9), _QUARTER_PI)
  cos = _series(_COSINE_SERIES, _mul_fixed(half_theta, half_theta))
  return tf.where(negate, -cos, cos)


def _to_float(fixed, fraction_bits):
  # Multiplying by a power of two is exact: only the conversion rounds, and
  # only for |fixed| > 2**53.
  return tf.cast(fixed, tf.float64) * (2.0 ** -fraction_bits)


def noise_keys(seed):
  """The keys of a run's momentum and acceptance streams.

  Args:
    seed: the run's integer seed.

  Returns:
    int64 [2] numpy array: `derive_seed(seed, purpose)` for 'momentum' and
    'acceptance' (63-bit, host-side and exact).
  """
  return np.array([derive_seed(seed, PURPOSES['momentum']),
                   derive_seed(seed, PURPOSES['acceptance'])], np.int64)


def _key_words(keys, image):
  """Philox keys [..., 2 purposes] for `image` (int64 [...])."""
  keys = tf.convert_to_tensor(keys, tf.int64)
  # Image indices beyond 2**32 (and transitions, see below) fold their high
  # word into the key; for all others it is zero.
  high_image = _low_bits(_shift_right(image, 32), 32)
  return _low_bits(keys, 32), _xor(_shift_right(keys, 32), high_image)


def _noise(keys, image, transition, chain, latent_dim):
  """Momenta and log-uniforms at broadcastable counters.

  `image`, `transition` and `chain` are int64 tensors that broadcast to the
  batch shape B; the momentum gets a trailing [latent_dim] axis.

  Returns:
    (momentum float64 [*B, latent_dim], log_uniform float64 [*B]).
  """
  # The acceptance uniform is one more column next to the momentum's, with
  # its own key and counter word 0: one Philox evaluation and one log for
  # both (fewer kernels in graph mode; the same numbers as separate draws).
  column = tf.range(latent_dim + 1, dtype=tf.int64)
  is_momentum = column < latent_dim
  k0, k1 = _key_words(keys, image[..., tf.newaxis])
  k0 = tf.where(is_momentum, k0[..., :1], k0[..., 1:])
  k1 = tf.where(is_momentum, k1[..., :1], k1[..., 1:])
  k0 = _xor(k0, _low_bits(_shift_right(transition, 32), 32)[..., tf.newaxis])
  counter = (tf.where(is_momentum, column, tf.zeros_like(column)),
             _low_bits(chain, 32)[..., tf.newaxis],
             _low_bits(transition, 32)[..., tf.newaxis],
             _low_bits(image, 32)[..., tf.newaxis])
  w0, w1, w2, w3 = philox4x32(counter, (k0, k1))
  neg_log = _neg_log_q55(_bits53(w0, w1))
  log_uniform = -_to_float(neg_log[..., latent_dim], 55)
  # Box–Muller: radius sqrt(-2 log u1) (one correctly rounded square root),
  # angle 2π·u2.
  radius = tf.sqrt(_to_float(2 * neg_log[..., :latent_dim], 55))
  radius = tf.cast(radius * 2.0 ** _RADIUS_BITS, tf.int64)  # exact, < 2**53
  cos = _cos_two_pi(_bits53(w2[..., :latent_dim], w3[..., :latent_dim]))
  return _to_float(_mul_fixed(radius, cos), _RADIUS_BITS), log_uniform


def transition_noise(keys, image_indices, transitions, num_chains, latent_dim):
  """Momenta and acceptance log-uniforms of transitions, for all chains.

  Pure elementwise int64 operations (see the module docstring): vectorized,
  XLA-compilable, with the same numbers under XLA, in graph mode and
  eagerly, and for a transition whether it is drawn alone or with others.

  Args:
    keys: int64 [2], `noise_keys(run_seed)`.
    image_indices: int64 [N], the images' global indices.
    transitions: int64 scalar or [T]: 0-based indices of transitions in the
      run (k - 1 for transition k, i.e. block·BLOCK_SIZE + offset).
    num_chains: C, a Python int.
    latent_dim: D, a Python int.

  Returns:
    (momentum [N, C, D], log_uniform [N, C]) for a scalar `transitions`,
    (momentum [N, T, C, D], log_uniform [N, T, C]) for a vector; float64,
    log_uniform = log u with u uniform in (0, 1].

  Raises:
    ValueError: if `transitions` has rank above 1.
  """
  transitions = tf.cast(transitions, tf.int64)
  image = tf.cast(tf.convert_to_tensor(image_indices), tf.int64)[:, tf.newaxis]
  if transitions.shape.rank == 1:
    image, transitions = image[..., tf.newaxis], transitions[:, tf.newaxis]
  elif transitions.shape.rank != 0:
    raise ValueError(f'transitions must be a scalar or a vector, got shape '
                     f'{transitions.shape}.')
  chain = tf.range(num_chains, dtype=tf.int64)
  return _noise(keys, image, transitions, chain, latent_dim)


def draw_block_noise(seed, block, image_indices, num_chains, latent_dim):
  """Momenta and acceptance log-uniforms for one block of transitions.

  The numbers `transition_noise` gives each of the block's transitions.

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
  return transition_noise(
      noise_keys(seed), np.asarray(image_indices, np.int64),
      tf.range(block * BLOCK_SIZE, (block + 1) * BLOCK_SIZE, dtype=tf.int64),
      num_chains, latent_dim)
