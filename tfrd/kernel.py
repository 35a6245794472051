"""tfrd's HMC transition as a `tfp.mcmc.TransitionKernel`.

`tfrd.hmc.hmc_transition` is driven by tfrd's own AIS loop (`tfrd.ais`), which
feeds it momenta and acceptance uniforms from per-image stateless streams and
keeps the target's distortion and gradient cached (`tfrd.target.TargetParts`).
`AnnealedHMC` wraps that same transition in TFP's kernel protocol, so the
annealed target q_β(z|x) ∝ p(z) exp(-β d(x, f(z))) at one fixed β can be
sampled with `tfp.mcmc.sample_chain` and composed with TFP's other kernels,
without giving up either property:

- per-image noise: `one_step` takes the stateless seed TFP's protocol passes
  in (an int32 [2] tensor; `sample_chain` splits a new one per step) and
  derives each image's momenta and acceptance uniforms from (seed, purpose,
  image index) alone, so an image's chains get the same numbers whichever
  other images share its batch. A plain callable target without image
  structure falls back to one draw for the whole batch from the seed, like
  `tfp.mcmc.HamiltonianMonteCarlo`;
- the cache: the kernel results carry the `TargetParts` at the current state,
  so the first half step of the leapfrog and the rejected branch reuse them.

Cost invariant: `bootstrap_results` evaluates the target once, and every
`one_step` costs exactly `num_leapfrog_steps` (L) target evaluations, each one
decoder forward and backward pass. A `sample_chain` run of n transitions
(n = num_burnin_steps + num_results without thinning) thus costs 1 + n·L
decoder gradients, as n transitions of `tfrd.ais` do.

`tests/test_kernel.py` checks the moments of the exact Gaussian posterior of a
linear decoder (with a wrong-β control the check must reject) and of a
quadratic callable target (the whole-batch fallback), agreement with
`tfp.mcmc.HamiltonianMonteCarlo` on the same target (moments and acceptance
rate), the batch-independence of each image's draws and their documented
derivation from the seed, the L-evaluation count of `one_step`, and step-size
adaptation by `tfp.mcmc.SimpleStepSizeAdaptation`.
"""

import collections

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfrd import hmc
from tfrd import randomness

__all__ = ['AnnealedHMCResults', 'AnnealedHMC']


class AnnealedHMCResults(
    collections.namedtuple(
        'AnnealedHMCResults',
        ['target_parts', 'log_accept_ratio', 'is_accepted', 'step_size'])):
  """Kernel results of `AnnealedHMC`.

  Attributes:
    target_parts: `TargetParts` at the current state (the cache the next
      transition starts from).
    log_accept_ratio: [B] float64, log MH acceptance ratio of the last
      proposal (-inf for a non-finite one; 0 after `bootstrap_results`).
    is_accepted: bool [B] (True after `bootstrap_results`).
    step_size: float64 step size of the next transition, scalar or [B] as
      given to the kernel. `one_step` reads it from here, as TFP's HMC does,
      so `tfp.mcmc.SimpleStepSizeAdaptation` can adapt it.
  """
  __slots__ = ()


class AnnealedHMC(tfp.mcmc.TransitionKernel):
  """HMC on the annealed target at one β, with tfrd's per-image noise.

  The chain state is one float64 tensor of latents [B, D]. With image
  structure (an `AnnealedTarget`, or `image_indices` given) B = N·C, image-major
  (the C chains of the first image, then of the second, ...), as in
  `tfrd.ais`; image `image_indices[n]` then draws its momenta [C, D] and
  acceptance uniforms [C] from the stateless keys
  `stateless_fold_in(stateless_fold_in(seed, purpose), image_index)`, where
  purpose is `tfrd.randomness.PURPOSES['momentum']` or `['acceptance']`. The
  same (seed, image index, C, D) always gives the same numbers, alone or in any
  batch. Without image structure (a plain callable target and no
  `image_indices`), momenta [B, D] and uniforms [B] are drawn for the whole
  batch with `tf.random.stateless_normal` / `stateless_uniform` from
  `stateless_fold_in(seed, purpose)`; a row's numbers then depend on B.

  `sample_chain` without a seed passes none; the kernel then draws a seed
  statefully (`tfp.random.sanitize_seed`) and the run is not reproducible.
  Under XLA the stateless generators give other (equally valid) numbers than
  without it.

  Example:

  ```python
  target = tfrd.AnnealedTarget(decoder, tfrd.standard_normal_prior(D),
                               tfrd.SquaredError(), images, num_chains=16)
  kernel = tfrd.AnnealedHMC(target, beta=10.0, step_size=0.05,
                            num_leapfrog_steps=10)
  samples = tfp.mcmc.sample_chain(100, init_latents, kernel=kernel,
                                  num_burnin_steps=200, trace_fn=None,
                                  seed=[4, 2])  # [100, N·C, D]
  ```

  Args:
    target: an `AnnealedTarget`, or any callable latents [B, D] float64 ->
      `TargetParts` (one decoder gradient evaluation per call).
    beta: the inverse temperature β >= 0, fixed for the kernel (a float or a
      float64 scalar tensor/variable, read at every step).
    step_size: leapfrog step size, a positive scalar or per-chain [B].
    num_leapfrog_steps: L >= 1, leapfrog steps (target evaluations) per
      transition.
    image_indices: int [N], the global indices of the batch's images, which
      select their noise streams. Defaults to 0..N-1 for an `AnnealedTarget`
      (anything with `num_images` and `num_chains`), and to no image
      structure otherwise.
    num_chains: chains per image C; defaults to the target's `num_chains`,
      else B / N at the first step.
    name: optional name scope of the kernel's ops.

  Raises:
    ValueError: for a non-positive `num_leapfrog_steps`, a static step size
      that is not positive, or `image_indices` that are not 1-D and non-empty
      or not one per image of an `AnnealedTarget`.
  """

  def __init__(self, target, beta, step_size, num_leapfrog_steps,
               image_indices=None, num_chains=None, name=None):
    if int(num_leapfrog_steps) != num_leapfrog_steps or num_leapfrog_steps < 1:
      raise ValueError(f'num_leapfrog_steps must be an integer >= 1, got '
                       f'{num_leapfrog_steps!r}.')
    if not tf.is_tensor(step_size) and not isinstance(step_size, tf.Variable):
      if not np.all(np.asarray(step_size, dtype=np.float64) > 0):
        raise ValueError(f'step_size must be positive, got {step_size!r}.')
    if image_indices is not None:
      image_indices = np.asarray(image_indices, dtype=np.int64)
      if image_indices.ndim != 1 or image_indices.size == 0:
        raise ValueError(f'image_indices must be a non-empty 1-D sequence, got '
                         f'shape {image_indices.shape}.')
      if (_has_image_structure(target) and
          image_indices.size != target.num_images):
        raise ValueError(f'{image_indices.size} image_indices for a target of '
                         f'{target.num_images} images.')
    self._parameters = dict(
        target=target, beta=beta, step_size=step_size,
        num_leapfrog_steps=int(num_leapfrog_steps),
        image_indices=image_indices, num_chains=num_chains, name=name)

  @property
  def parameters(self):
    """The constructor's arguments (used by `copy`)."""
    return dict(self._parameters)

  @property
  def target(self):
    return self._parameters['target']

  @property
  def beta(self):
    return self._parameters['beta']

  @property
  def step_size(self):
    """The initial step size; later ones live in the kernel results."""
    return self._parameters['step_size']

  @property
  def num_leapfrog_steps(self):
    return self._parameters['num_leapfrog_steps']

  @property
  def name(self):
    return self._parameters['name']

  @property
  def is_calibrated(self):
    """True: the Metropolis-Hastings test leaves q_β invariant."""
    return True

  @property
  def image_indices(self):
    """int64 [N] image indices, or None without image structure."""
    if self._parameters['image_indices'] is not None:
      return self._parameters['image_indices']
    if _has_image_structure(self.target):
      return np.arange(self.target.num_images, dtype=np.int64)
    return None

  @property
  def num_chains(self):
    """Chains per image C, or None when it is inferred from the state."""
    if self._parameters['num_chains'] is not None:
      return int(self._parameters['num_chains'])
    if _has_image_structure(self.target):
      return int(self.target.num_chains)
    return None

  def bootstrap_results(self, init_state):
    """Evaluates the target once at `init_state` (its cached `TargetParts`).

    Args:
      init_state: latents [B, D] float64.

    Returns:
      An `AnnealedHMCResults` with zero log acceptance ratios, all chains
      marked accepted and the kernel's step size.

    Raises:
      TypeError: if the state is not float64.
    """
    with tf.name_scope(self.name or 'AnnealedHMC'):
      state = _as_latents(init_state)
      parts = self.target(state)
      rows = tf.shape(state)[:1]
      return AnnealedHMCResults(
          target_parts=parts,
          log_accept_ratio=tf.zeros(rows, tf.float64),
          is_accepted=tf.ones(rows, tf.bool),
          step_size=tf.convert_to_tensor(self.step_size, tf.float64))

  def one_step(self, current_state, previous_kernel_results, seed=None):
    """One HMC transition: exactly `num_leapfrog_steps` target evaluations.

    Args:
      current_state: latents [B, D] float64.
      previous_kernel_results: the `AnnealedHMCResults` of the previous step
        (or of `bootstrap_results`); its `target_parts` must be those at
        `current_state` and its `step_size` is the one used.
      seed: a stateless seed (int32 [2] tensor or pair of ints), as
        `tfp.mcmc.sample_chain` passes; see `tfp.random.sanitize_seed`.

    Returns:
      (next latents [B, D], `AnnealedHMCResults`).

    Raises:
      TypeError: if the state is not float64.
      ValueError: if B is not a multiple of the number of images, or not N·C.
    """
    with tf.name_scope(self.name or 'AnnealedHMC'):
      seed = tfp.random.sanitize_seed(seed)
      state = _as_latents(current_state)
      momentum, log_uniform = self._draw_noise(seed, state)
      step_size = tf.convert_to_tensor(previous_kernel_results.step_size,
                                       tf.float64)
      result = hmc.hmc_transition(
          self.target, tf.convert_to_tensor(self.beta, tf.float64), state,
          previous_kernel_results.target_parts, momentum, log_uniform,
          tf.broadcast_to(step_size, tf.shape(state)[:1]),
          self.num_leapfrog_steps)
      return result.state, AnnealedHMCResults(
          target_parts=result.parts,
          log_accept_ratio=result.log_accept_ratio,
          is_accepted=result.is_accepted,
          step_size=step_size)

  def _draw_noise(self, seed, state):
    """Momenta [B, D] and acceptance log-uniforms [B] for one transition."""
    momentum_seed = tf.random.experimental.stateless_fold_in(
        seed, randomness.PURPOSES['momentum'])
    acceptance_seed = tf.random.experimental.stateless_fold_in(
        seed, randomness.PURPOSES['acceptance'])
    image_indices = self.image_indices
    if image_indices is None:
      momentum = tf.random.stateless_normal(tf.shape(state), momentum_seed,
                                            dtype=tf.float64)
      uniform = tf.random.stateless_uniform(tf.shape(state)[:1],
                                            acceptance_seed, dtype=tf.float64)
    else:
      num_images = image_indices.size
      num_chains = self.num_chains
      rows, latent_dim = state.shape[0], state.shape[-1]
      if rows is not None:
        if num_chains is None and rows % num_images == 0:
          num_chains = rows // num_images
        if num_chains is None or rows != num_images * num_chains:
          raise ValueError(
              f'The state has {rows} rows; with {num_images} images it needs '
              f'num_images × num_chains rows, image-major'
              + (f' ({num_images * num_chains}).' if num_chains else '.'))
      elif num_chains is None:
        num_chains = tf.shape(state)[0] // num_images
      if latent_dim is None:
        latent_dim = tf.shape(state)[-1]
      momentum, uniform = _per_image_draws(
          _image_keys(momentum_seed, image_indices),
          _image_keys(acceptance_seed, image_indices), num_chains, latent_dim)
      momentum = tf.reshape(momentum, tf.shape(state))
      uniform = tf.reshape(uniform, tf.shape(state)[:1])
    # Uniforms in [0, 1) can be exactly 0; log(0) = -inf still means "accept".
    return momentum, tf.math.log(uniform)


def _has_image_structure(target):
  return hasattr(target, 'num_images') and hasattr(target, 'num_chains')


def _as_latents(state):
  if isinstance(state, (list, tuple)) and any(tf.is_tensor(s) for s in state):
    raise TypeError('AnnealedHMC takes the latents as one tensor [B, D], not '
                    'a list of state parts.')
  state = tf.convert_to_tensor(state)
  if state.dtype != tf.float64:
    raise TypeError(f'tfrd chains are float64; got latents of dtype '
                    f'{state.dtype.name}. Cast them with tf.cast(z, '
                    f'tf.float64).')
  return state


def _image_keys(purpose_seed, image_indices):
  """int64 [N, 2] keys: stateless_fold_in(purpose_seed, index) per image.

  `stateless_fold_in(seed, data)` is [stateless full-range integer of seed,
  data]; its first half is shared by all images, so it is drawn once.
  """
  mixed = tf.random.stateless_uniform([], seed=purpose_seed, minval=None,
                                      maxval=None, dtype=tf.int64)
  indices = tf.constant(image_indices, tf.int64)
  return tf.stack([tf.fill(tf.shape(indices), mixed), indices], axis=1)


def _per_image_draws(momentum_keys, acceptance_keys, num_chains, latent_dim):
  """(normal [N, C, D], uniform [N, C]) float64, one stateless draw per key."""
  # As in tfrd.randomness: pfor has no batched converter for these ops, so
  # map_fn (a loop in the graph) is what vectorized_map would become.
  def draw(keys):
    momentum_key, acceptance_key = keys
    return (tf.random.stateless_normal([num_chains, latent_dim], momentum_key,
                                       dtype=tf.float64),
            tf.random.stateless_uniform([num_chains], acceptance_key,
                                        dtype=tf.float64))

  return tf.map_fn(draw, (momentum_keys, acceptance_keys),
                   fn_output_signature=(tf.float64, tf.float64))
