"""tfrd's HMC transition and step-size adaptation as `tfp.mcmc.TransitionKernel`s.

Why it exists: every chain tfrd runs, the preliminary and reported passes of
`tfrd.ais` and the forward and reverse chains of `tfrd.bdmc`, makes its
transitions through the kernels of this module, in TFP's kernel protocol, so
they also compose with TFP's own kernels and drivers
(`tfp.mcmc.sample_chain`, `tfp.mcmc.SimpleStepSizeAdaptation`, ...):

- `AnnealedHMC`: `tfrd.hmc.hmc_transition` on the annealed target
  q_β(z|x) ∝ p(z) exp(-β d(x, f(z))) at one β, with an optional per-image
  mass matrix (`tfrd.preconditioning`);
- `StepSizeAdaptation`: wraps such a kernel, as
  `tfp.mcmc.SimpleStepSizeAdaptation` does, and updates the step size in
  its results after every transition with tfrd's rule
  (`tfrd.hmc.adapt_step_size`, per chain, or per image with
  `shared_step_size`).

The compiled AIS loop (`tfrd.ais`) builds one such kernel per transition,
with that transition's β, as `tfp.mcmc.sample_annealed_importance_chain`
builds one per step: β changes from one transition to the next, and the AIS
log-weight update, which needs two successive β's, stays in the loop that
owns the annealing. The kernels keep what the estimator depends on:

- per-image noise: `one_step` takes the stateless seed TFP's protocol passes
  in (an int32 [2] tensor; `sample_chain` splits a new one per step) and
  draws each image's momenta and acceptance uniforms with tfrd's
  counter-based generator (`tfrd.randomness.transition_noise`, as the AIS
  loop does) at a position given by the seed: a function of (seed, image
  index) alone, so an image's chains get the same numbers whichever other
  images share its batch, and all images' numbers are one vectorized
  computation (no loop over images, one set of kernels on a GPU whatever the
  batch). A plain callable target without image structure falls back to one
  draw for the whole batch from the seed, like
  `tfp.mcmc.HamiltonianMonteCarlo`. The AIS loop instead hands the kernel
  the noise it drew at the transition's position in the run's own streams
  (`noise`), so a run's numbers do not depend on how they reach the kernel;
- the cache: the kernel results carry the `TargetParts` at the current state,
  so the first half step of the leapfrog and the rejected branch reuse them,
  and `bootstrap_results` takes them when the caller already has them (the
  AIS loop carries them from one transition to the next).

Cost invariant: `bootstrap_results` evaluates the target once (never when
given the `TargetParts`), and every `one_step` costs exactly
`num_leapfrog_steps` (L) target evaluations, each one decoder forward and
backward pass; `StepSizeAdaptation` adds none. A `sample_chain` run of n
transitions (n = num_burnin_steps + num_results without thinning) thus
costs 1 + n·L decoder gradients, as n transitions of `tfrd.ais` do.

`tests/test_kernel.py` checks the moments of the exact Gaussian posterior of a
linear decoder (with a wrong-β control the check must reject) and of a
quadratic callable target (the whole-batch fallback), agreement with
`tfp.mcmc.HamiltonianMonteCarlo` on the same target (moments and acceptance
rate), the batch-independence of each image's draws and their documented
derivation from the seed, that the draw is one vectorized computation (no
loop over images in the graph), the L-evaluation count of `one_step` (with
and without given noise and cache, and under `StepSizeAdaptation`),
step-size adaptation by `tfp.mcmc.SimpleStepSizeAdaptation` and by
`StepSizeAdaptation` (against `tfrd.hmc.adapt_step_size`, per chain and
per image), and that the AIS loop's transitions are these kernels'.
`tests/test_gpu_readiness.py` checks that the loop that builds them is still
one XLA computation per chunk with no host round trip.
"""

import collections

import numpy as np
import tensorflow as tf

from tfrd import hmc
from tfrd.probability import tfp
from tfrd import randomness

__all__ = ['AnnealedHMCResults', 'AnnealedHMC', 'StepSizeAdaptationResults',
           'StepSizeAdaptation', 'KERNEL_NOISE_KEYS', 'seed_position',
           'innermost_results']

# The kernel's own momentum and acceptance keys: `noise_keys` of a seed
# derived from the kernel's name, so that no small run seed of `tfrd.ais`
# shares them. Changing it changes every chain the kernel draws.
KERNEL_NOISE_KEYS = randomness.noise_keys(
    randomness.derive_seed(*b'tfrd.kernel.AnnealedHMC'))


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
      so `StepSizeAdaptation` or `tfp.mcmc.SimpleStepSizeAdaptation` can
      adapt it.
  """
  __slots__ = ()


class AnnealedHMC(tfp.mcmc.TransitionKernel):
  """HMC on the annealed target at one β, with tfrd's per-image noise.

  The chain state is one float64 tensor of latents [B, D]. With image
  structure (an `AnnealedTarget`, or `image_indices` given) B = N·C, image-major
  (the C chains of the first image, then of the second, ...), as in
  `tfrd.ais`; image `image_indices[n]` then draws its momenta [C, D] and
  acceptance log-uniforms [C] as

      transition_noise(KERNEL_NOISE_KEYS, image_indices, position(seed), C, D)

  (`tfrd.randomness.transition_noise`, all images at once), where
  `position(seed)` reads the int32 pair (s0, s1) of the step's seed as one
  64-bit Philox position, the bits of s0 then those of s1
  (`seed_position`), and `KERNEL_NOISE_KEYS` are the momentum and acceptance
  keys `tfrd.randomness.noise_keys` gives a fixed seed of the kernel's own.
  The seed goes into the position rather than the keys because it is a
  tensor inside `sample_chain`'s loop, while the keys come from host-side
  `derive_seed`; placing its bits is a bijection (distinct seeds, distinct
  counters: Philox's numbers are independent across them), and the
  momentum and acceptance streams stay apart by their keys. The kernel's
  positions, spread over 2**64 by TFP's seed splitting, and the fixed keys
  keep its numbers apart from those of `tfrd.ais` runs. So the same
  (seed, image index, C, D) always gives the same numbers, alone or in any
  batch, eagerly, in graph mode and under XLA alike.

  Without image structure (a plain callable target and no `image_indices`),
  momenta [B, D] and uniforms [B] are drawn for the whole batch with
  `tf.random.stateless_normal` / `stateless_uniform` from
  `stateless_fold_in(seed, purpose)` (purpose
  `tfrd.randomness.PURPOSES['momentum']` or `['acceptance']`); a row's numbers
  then depend on B, and under XLA these generators give other (equally
  valid) numbers than without it.

  `sample_chain` without a seed passes none; the kernel then draws a seed
  statefully (`tfp.random.sanitize_seed`) and the run is not reproducible.

  With `noise` given, the kernel makes one transition with those momenta
  and acceptance uniforms and ignores its seed: the kernel of one
  transition, as the AIS loop (`tfrd.ais`) builds one per transition from
  the noise it drew at the transition's position in the run's streams.
  Stepped twice, it would use the same numbers twice.

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
    metric: None (identity mass matrix), or per-image (eigenvectors
      [N, D, D], eigenvalues [N, D]) float64 of the mass matrix M_β of
      `tfrd.preconditioning` (a row of
      `tfrd.preconditioning.MassMatrixTable.row_tensors`); needs image
      structure, image-major rows.
    noise: None (draw from the seed), or (momentum [B, D], log_uniform [B])
      float64: standard normal momenta and log-uniforms in (-inf, 0] of
      this one transition (see above).
    name: optional name scope of the kernel's ops.

  Raises:
    ValueError: for a non-positive `num_leapfrog_steps`, a static step size
      that is not positive, or `image_indices` that are not 1-D and non-empty
      or not one per image of an `AnnealedTarget`.
  """

  def __init__(self, target, beta, step_size, num_leapfrog_steps,
               image_indices=None, num_chains=None, metric=None, noise=None,
               name=None):
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
        image_indices=image_indices, num_chains=num_chains, metric=metric,
        noise=noise, name=name)

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
  def metric(self):
    """The per-image mass matrix (eigenvectors, eigenvalues), or None."""
    return self._parameters['metric']

  @property
  def noise(self):
    """The given (momentum, log_uniform) of one transition, or None."""
    return self._parameters['noise']

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

  def bootstrap_results(self, init_state, target_parts=None):
    """The results at `init_state`: its `TargetParts` and the step size.

    Args:
      init_state: latents [B, D] float64.
      target_parts: None, or the `TargetParts` at `init_state` when the
        caller has them (the AIS loop carries them between transitions);
        then the target is not evaluated.

    Returns:
      An `AnnealedHMCResults` with zero log acceptance ratios, all chains
      marked accepted and the kernel's step size.

    Raises:
      TypeError: if the state is not float64.
    """
    with tf.name_scope(self.name or 'AnnealedHMC'):
      state = _as_latents(init_state)
      parts = self.target(state) if target_parts is None else target_parts
      # Static where known: constants, no ops in the AIS loop's graph.
      rows = state.shape[:1]
      if not rows.is_fully_defined():
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
        Unused when the kernel was given its `noise`.

    Returns:
      (next latents [B, D], `AnnealedHMCResults`).

    Raises:
      TypeError: if the state is not float64.
      ValueError: if B is not a multiple of the number of images, or not N·C.
    """
    with tf.name_scope(self.name or 'AnnealedHMC'):
      state = _as_latents(current_state)
      if self.noise is None:
        momentum, log_uniform = self._draw_noise(
            tfp.random.sanitize_seed(seed), state)
      else:
        momentum, log_uniform = self.noise
      step_size = tf.convert_to_tensor(previous_kernel_results.step_size,
                                       tf.float64)
      per_chain = step_size
      if step_size.shape.rank != 1:  # a scalar: one step size for all chains
        per_chain = tf.broadcast_to(step_size, tf.shape(state)[:1])
      result = hmc.hmc_transition(
          self.target, tf.convert_to_tensor(self.beta, tf.float64), state,
          previous_kernel_results.target_parts, momentum, log_uniform,
          per_chain, self.num_leapfrog_steps, self.metric)
      return result.state, AnnealedHMCResults(
          target_parts=result.parts,
          log_accept_ratio=result.log_accept_ratio,
          is_accepted=result.is_accepted,
          step_size=step_size)

  def _draw_noise(self, seed, state):
    """Momenta [B, D] and acceptance log-uniforms [B] for one transition.

    Args:
      seed: the step's sanitized stateless seed, int32 [2].
      state: latents [B, D].

    Returns:
      (momentum float64 [B, D], log_uniform float64 [B]).

    Raises:
      ValueError: with image structure, if B is not N·C.
    """
    image_indices = self.image_indices
    if image_indices is None:
      momentum = tf.random.stateless_normal(
          tf.shape(state), tf.random.experimental.stateless_fold_in(
              seed, randomness.PURPOSES['momentum']), dtype=tf.float64)
      uniform = tf.random.stateless_uniform(
          tf.shape(state)[:1], tf.random.experimental.stateless_fold_in(
              seed, randomness.PURPOSES['acceptance']), dtype=tf.float64)
      # Uniforms in [0, 1) can be exactly 0; log(0) = -inf still means
      # "accept".
      return momentum, tf.math.log(uniform)
    num_chains, latent_dim = _noise_shape(state, image_indices.size,
                                          self.num_chains)
    momentum, log_uniform = randomness.transition_noise(
        tf.constant(KERNEL_NOISE_KEYS), tf.constant(image_indices),
        seed_position(seed), num_chains, latent_dim)
    return (tf.reshape(momentum, tf.shape(state)),
            tf.reshape(log_uniform, tf.shape(state)[:1]))


class StepSizeAdaptationResults(
    collections.namedtuple('StepSizeAdaptationResults', ['inner_results'])):
  """Kernel results of `StepSizeAdaptation`.

  Attributes:
    inner_results: the inner kernel's results, whose `step_size` is the
      adapted one, for the next transition.
  """
  __slots__ = ()


class StepSizeAdaptation(tfp.mcmc.TransitionKernel):
  """Adapts an inner kernel's step size toward a target acceptance rate.

  A wrapper in the shape of `tfp.mcmc.SimpleStepSizeAdaptation`: `one_step`
  steps the inner kernel with the step size its results hold, then writes
  the updated step size into the new inner results, where the inner
  kernel's next `one_step` reads it. The update is tfrd's
  (`tfrd.hmc.adapt_step_size`, appendix D.2): ε ← ε·exp(rate·(min(1, α) -
  target)), per chain for per-chain step sizes [B], from the mean
  acceptance probability over all chains for a scalar one, and, with
  `shared_step_size`, one update per image from the mean acceptance
  probability of its chains, so that the chains of an image keep one step
  size. TFP's own rule (ε·(1 ± rate) by the sign of the mean acceptance's
  error) and its decay after `num_adaptation_steps` would change every
  curve; this wrapper adapts at every step, so use it where the chains may
  adapt (the preliminary pass of an AIS run) and the inner kernel alone
  where they may not (adapting the reported chain or a reverse chain would
  break the Markov property their weights rest on).

  It costs no target evaluation: the inner kernel's log acceptance ratio
  is all it reads.

  Args:
    inner_kernel: a kernel whose results have `step_size` and
      `log_accept_ratio` fields (an `AnnealedHMC`).
    target_accept_prob: the acceptance probability adapted toward.
    adaptation_rate: log step-size change per unit of acceptance error.
    shared_step_size: one step size per image; the inner kernel must have
      image structure (`image_indices`, and `num_chains` or rows N·C).
    name: optional name scope of the kernel's ops.

  Raises:
    ValueError: with `shared_step_size`, for an inner kernel without image
      structure.
  """

  def __init__(self, inner_kernel, target_accept_prob=0.65,
               adaptation_rate=0.05, shared_step_size=False, name=None):
    if shared_step_size and getattr(inner_kernel, 'image_indices',
                                    None) is None:
      raise ValueError('shared_step_size needs an inner kernel with image '
                       'structure (image_indices).')
    self._parameters = dict(
        inner_kernel=inner_kernel, target_accept_prob=target_accept_prob,
        adaptation_rate=adaptation_rate,
        shared_step_size=bool(shared_step_size), name=name)

  @property
  def parameters(self):
    """The constructor's arguments (used by `copy`)."""
    return dict(self._parameters)

  @property
  def inner_kernel(self):
    return self._parameters['inner_kernel']

  @property
  def target_accept_prob(self):
    return self._parameters['target_accept_prob']

  @property
  def adaptation_rate(self):
    return self._parameters['adaptation_rate']

  @property
  def shared_step_size(self):
    return self._parameters['shared_step_size']

  @property
  def name(self):
    return self._parameters['name']

  @property
  def is_calibrated(self):
    """The inner kernel's, as for `tfp.mcmc.SimpleStepSizeAdaptation`: its
    transitions keep their Metropolis-Hastings correction (the adapting
    chain as a whole is still not Markov)."""
    return self.inner_kernel.is_calibrated

  def bootstrap_results(self, init_state, **kwargs):
    """The inner kernel's `bootstrap_results` (with `kwargs`, e.g. the
    `target_parts` of `AnnealedHMC`), wrapped."""
    return StepSizeAdaptationResults(
        self.inner_kernel.bootstrap_results(init_state, **kwargs))

  def one_step(self, current_state, previous_kernel_results, seed=None):
    """One inner transition, then the step-size update.

    Args:
      current_state: the inner kernel's state.
      previous_kernel_results: a `StepSizeAdaptationResults`.
      seed: passed to the inner kernel.

    Returns:
      (next state, `StepSizeAdaptationResults` whose inner results hold the
      updated step size).
    """
    with tf.name_scope(self.name or 'StepSizeAdaptation'):
      inner_kwargs = {} if seed is None else dict(seed=seed)
      state, inner = self.inner_kernel.one_step(
          current_state, previous_kernel_results.inner_results,
          **inner_kwargs)
      step_size = tf.convert_to_tensor(inner.step_size, tf.float64)
      log_accept_ratio = inner.log_accept_ratio
      if self.shared_step_size:
        log_accept_ratio = self._image_mean(log_accept_ratio)
      elif step_size.shape.rank == 0:
        # log of a probability <= 1, which adapt_step_size reads back as is.
        log_accept_ratio = tf.math.log(tf.reduce_mean(
            tf.exp(tf.minimum(log_accept_ratio, 0.0))))
      step_size = hmc.adapt_step_size(step_size, log_accept_ratio,
                                      self.target_accept_prob,
                                      self.adaptation_rate)
      return state, StepSizeAdaptationResults(
          inner._replace(step_size=step_size))

  def _image_mean(self, log_accept_ratio):
    """Each chain's log of its image's mean acceptance probability [B].

    The log of a probability <= 1, which `adapt_step_size` reads back
    unchanged: every chain of an image then takes the same update.
    """
    num_images = len(self.inner_kernel.image_indices)
    num_chains = getattr(self.inner_kernel, 'num_chains', None)
    rows = log_accept_ratio.shape[:1]
    if not rows.is_fully_defined():
      rows = tf.shape(log_accept_ratio)
    if num_chains is None:
      num_chains = rows[0] // num_images
    accept_prob = tf.exp(tf.minimum(log_accept_ratio, 0.0))
    mean_accept = tf.reduce_mean(
        tf.reshape(accept_prob, [num_images, num_chains]), axis=1,
        keepdims=True)
    return tf.reshape(
        tf.broadcast_to(tf.math.log(mean_accept), [num_images, num_chains]),
        rows)


def innermost_results(results):
  """The innermost kernel results of a stack of wrappers (unwraps
  `inner_results` while there is one), e.g. the `AnnealedHMCResults` inside
  `StepSizeAdaptationResults`."""
  while hasattr(results, 'inner_results'):
    results = results.inner_results
  return results


def seed_position(seed):
  """The 64-bit Philox position of a stateless seed (see `AnnealedHMC`).

  Args:
    seed: int32 [2] tensor (s0, s1), as `tfp.random.sanitize_seed` gives.

  Returns:
    int64 scalar whose bits are those of s0 (high word) then of s1 (low
    word): negative when s0 < 0. `tfrd.randomness.transition_noise` takes
    it bit for bit.
  """
  # Built in uint64, where shifts into the top bit are defined, then
  # reinterpreted.
  words = tf.cast(tf.bitcast(tf.cast(seed, tf.int32), tf.uint32), tf.uint64)
  position = tf.bitwise.bitwise_or(
      tf.bitwise.left_shift(words[0], tf.constant(32, tf.uint64)), words[1])
  return tf.bitcast(position, tf.int64)


def _noise_shape(state, num_images, num_chains):
  """(C, D) of the noise for latents [B, D] of `num_images` images.

  Static where the state's shape is known, else int64 scalar tensors (the
  counters' type in `tfrd.randomness`).

  Raises:
    ValueError: if a static B is not num_images × num_chains (or, without
      `num_chains`, not a multiple of num_images).
  """
  rows, latent_dim = state.shape[0], state.shape[-1]
  if rows is None:
    if num_chains is None:
      num_chains = tf.shape(state, out_type=tf.int64)[0] // num_images
  else:
    if num_chains is None and rows % num_images == 0:
      num_chains = rows // num_images
    if num_chains is None or rows != num_images * num_chains:
      raise ValueError(
          f'The state has {rows} rows; with {num_images} images it needs '
          f'num_images × num_chains rows, image-major'
          + (f' ({num_images * num_chains}).' if num_chains else '.'))
  if latent_dim is None:
    latent_dim = tf.shape(state, out_type=tf.int64)[-1]
  return num_chains, latent_dim


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
