"""The compiled AIS loop that traces a whole rate-prior distortion curve.

One forward AIS run along q_k(z|x) ∝ p(z) exp(-β_k d(x, f(z))) (eq. 10) with
HMC transitions visits every point of the curve (§4). The loop over
temperatures is a `tf.function` (XLA-compiled where possible) that runs one
*chunk* of transitions per call: the stretch up to the next RD point or the
end of a block of 32 transitions, whichever comes first. The random numbers
are drawn inside that computation (`tfrd.randomness`), so a chunk is one
XLA computation and one host round trip, whose only results are the new
chain state and two per-chain sums (`tests/test_gpu_readiness.py` inspects
the HLO and counts the round trips). Python touches the chain only between
chunks, to record RD points, checkpoint and report progress.

Step sizes (appendix D.2): by default a preliminary run adapts per-chain step
sizes toward 65% acceptance and records the geometric mean step size of each
chain per segment of the schedule (`tfrd.step_sizes`); the reported run
replays that table, frozen, with a fresh seed.

Why one driver: every chain tfrd runs goes through the same two layers, so
a fix or a check made once holds for all of them: the preliminary and the
reported pass of a run, and the forward and reverse chains of BDMC
(`tfrd.bdmc`).

- the transition: each is the `one_step` of a `tfp.mcmc.TransitionKernel`
  (`tfrd.kernel.AnnealedHMC`, wrapped in `tfrd.kernel.StepSizeAdaptation`
  when the pass adapts, as `tfp.mcmc.SimpleStepSizeAdaptation` wraps an
  inner kernel), built inside the compiled chunk for that transition's β,
  noise, step sizes and mass matrix (`_make_chunk_fn`, run by
  `TransitionRunner`). The log-weight update log w -= (β_k - β_{k-1})·d
  stays in the loop: it is the annealing's, not a kernel's (a kernel leaves
  one target invariant; the weight compares two);
- the pass loop (`PassLoop`): starts or resumes the chains of a pass (from
  the prior, or from given latents for reverse AIS), runs its chunks along
  a `Course` (forward along the schedule, or back down it), replays a
  frozen step-size and mass-matrix table, checks the log-weights at every
  point, records RD points, checkpoints, reports progress and honours a
  stop request.

`run_ais` is a short driver over named parts:

- the pass plan (`tfrd.passes`): which passes the step-size mode makes,
  their seeds, whether they adapt, which table they replay;
- the resumable run state (`RunState`): the position, the chains, the
  step-size tables and the recorded points, and the one checkpoint layout
  they are saved in;
- the pass loop (`PassLoop`) over the forward `Course`.

Cost invariant: a transition costs exactly L decoder gradients whatever
wraps it: the chain state carries the cached `TargetParts`, which start
each kernel's transition (`tests/test_kernel.py` counts the target's
calls, `tests/test_passes.py` a whole run's, and `benchmarks.throughput` times
a transition against the bare decoder gradient).
"""

import collections
import time

import numpy as np
import tensorflow as tf

from tfrd import distribute
from tfrd import estimators
from tfrd import hmc
from tfrd import kernel as kernel_lib
from tfrd import passes as passes_lib
from tfrd import preconditioning
from tfrd import randomness
from tfrd import settings as settings_lib
from tfrd import step_sizes as step_sizes_lib
from tfrd import target as target_lib

__all__ = ['ChainState', 'ProgressUpdate', 'AISRun', 'DecoderOutputError',
           'RunInterrupted', 'STEP_SIZE_MODES', 'chunk_boundaries',
           'TransitionRunner', 'RunState', 'Course', 'forward_course',
           'PassLoop', 'WorkerPart', 'run_ais', 'hessian_decoder_gradients']

STEP_SIZE_MODES = hmc.STEP_SIZE_MODES

# Batches of at least this many images trace the prior's sampler once rather
# than sample eagerly per image (smaller ones would only pay for the trace).
_TRACE_PRIOR_SAMPLING_FROM = 8


class DecoderOutputError(ValueError):
  """The decoder returned NaN or infinite values where finite ones are needed."""


class RunInterrupted(Exception):
  """A run stopped on request at the end of a chunk.

  Attributes:
    checkpoint_path: the checkpoint written at that moment (None when the
      run had no checkpointer); the same call resumes from it.
  """

  def __init__(self, checkpoint_path):
    super().__init__(
        f'stopped on request; checkpoint {checkpoint_path}' if checkpoint_path
        else 'stopped on request (no checkpoint directory)')
    self.checkpoint_path = checkpoint_path


class ChainState(
    collections.namedtuple(
        'ChainState', ['latents', 'parts', 'log_weights', 'step_size', 'beta'])):
  """Everything the AIS chain carries between transitions.

  Attributes:
    latents: [N·C, D] float64 current states z_k.
    parts: `TargetParts` at `latents`.
    log_weights: [N·C] float64 log w_k.
    step_size: [N·C] float64 per-chain HMC step sizes.
    beta: scalar float64 β_k of the last transition.
  """
  __slots__ = ()


class ProgressUpdate(
    collections.namedtuple(
        'ProgressUpdate',
        ['phase', 'transitions_done', 'num_transitions', 'points_done',
         'num_points', 'beta', 'accept_rate', 'elapsed_s'])):
  """Reported to a progress callback after every chunk."""
  __slots__ = ()


class AISRun(
    collections.namedtuple(
        'AISRun',
        ['betas', 'estimates', 'step_size_table', 'accept_rates', 'latents',
         'num_decoder_gradients', 'jit_compiled', 'wall_time_s',
         'mass_matrix_table'])):
  """Raw result of `run_ais`.

  Attributes:
    betas: [P] inverse temperatures of the RD points.
    estimates: list of P `RDEstimate`s (per image).
    step_size_table: [segments, N·C] float64 step sizes the reported run
      used (`tfrd.step_sizes`: one row per chunk, or per group of chunks on
      schedules of more than `MAX_SEGMENTS` chunks), reusable by a later run
      on the same images and schedule.
    accept_rates: [P] mean acceptance probability over the chunk that ended
      at each RD point (of the reported run).
    latents: [P, N, D] float32, one latent per image and RD point, drawn
      from the AIS distribution q_k^AIS (eq. 12), for reconstructions.
    num_decoder_gradients: decoder gradient evaluations per chain, both runs
      (with a Hessian mass matrix, its anchors' cost shared among the
      image's chains, rounded up).
    jit_compiled: whether the loop ran under XLA.
    wall_time_s: dict of wall times by phase.
    mass_matrix_table: None (identity mass matrix), or the
      `tfrd.preconditioning.MassMatrixTable` the reported run replayed.
  """
  __slots__ = ()

  def __new__(cls, betas, estimates, step_size_table, accept_rates, latents,
              num_decoder_gradients, jit_compiled, wall_time_s,
              mass_matrix_table=None):
    return super().__new__(cls, betas, estimates, step_size_table,
                           accept_rates, latents, num_decoder_gradients,
                           jit_compiled, wall_time_s, mass_matrix_table)


def chunk_boundaries(schedule):
  """Ends (inclusive transition indices) of the chunks the loop runs.

  A chunk ends at every RD point, at the end of every block of
  `randomness.BLOCK_SIZE` transitions and at the last transition: the block
  caps how long the host waits between progress reports, checkpoints and
  stop requests (the random numbers are a function of the transition index,
  not of the chunking).
  """
  num_transitions = schedule.num_transitions
  block_ends = np.arange(randomness.BLOCK_SIZE, num_transitions + 1,
                         randomness.BLOCK_SIZE)
  ends = np.union1d(np.union1d(schedule.rd_indices, block_ends),
                    [num_transitions])
  return ends.astype(np.int64)


def _make_chunk_fn(target, num_leapfrog_steps, adapt, target_accept_prob,
                   adaptation_rate, jit_compile, shared_step_size=False,
                   preconditioned=False):
  """Builds the compiled function that runs transitions of one chunk.

  The function takes the chain state, the chunk's inverse temperatures
  (padded to `randomness.BLOCK_SIZE`), the run's noise keys int64 [2], the
  0-based index of the chunk's first transition, the image indices int64 [N]
  and the number of transitions, and returns (state, accept_sum,
  log_step_sum). The noise is drawn inside the function (`tfrd.randomness`),
  so a chunk is one computation with no host round trip, and no noise tensor
  enters or leaves it. Under XLA each transition draws its own, fused into
  the loop, with memory independent of the chunk length; in graph mode,
  where every op is a kernel launch, the chunk's noise is drawn at once
  before the loop. The numbers are the same either way. A `preconditioned`
  function takes one more argument, the chunk's per-image mass matrix
  (eigenvectors [N, D, D], eigenvalues [N, D]; `tfrd.preconditioning`).

  Each transition is the `one_step` of a `tfrd.kernel.AnnealedHMC` built
  for it (its β, the noise drawn at its position, the chain's step sizes
  and the chunk's mass matrix), wrapped in a `tfrd.kernel.StepSizeAdaptation`
  when the step sizes `adapt`: one kernel per transition, as
  `tfp.mcmc.sample_annealed_importance_chain` builds one per step, since β
  changes every transition. The kernel objects exist only while tracing;
  the computation is the transition's. The loop owns what the kernels do
  not know: the annealing, i.e. β and the log-weight update between two
  targets.
  """
  num_rows = target.num_images * target.num_chains

  def transition_kernel(beta, step_size, noise, metric):
    kernel = kernel_lib.AnnealedHMC(target, beta, step_size,
                                    num_leapfrog_steps, metric=metric,
                                    noise=noise)
    if adapt:
      kernel = kernel_lib.StepSizeAdaptation(
          kernel, target_accept_prob, adaptation_rate, shared_step_size)
    return kernel

  def run_chunk(state, betas, noise_keys, first_transition, image_indices,
                num_steps, metric):
    latent_dim = state.latents.shape[-1]
    if latent_dim is None:
      raise ValueError('The latents need a static last dimension.')
    draw = lambda transitions: randomness.transition_noise(
        noise_keys, image_indices, transitions, target.num_chains,
        int(latent_dim))
    if jit_compile:
      noise_at = lambda step: draw(first_transition + tf.cast(step, tf.int64))
    else:
      momenta, log_uniforms = draw(
          first_transition + tf.range(tf.cast(num_steps, tf.int64)))
      noise_at = lambda step: (momenta[:, step], log_uniforms[:, step])

    def body(step, state, accept_sum, log_step_sum):
      beta = betas[step]
      # log w_k = log w_{k-1} - (β_k - β_{k-1}) d(x, f(z_{k-1})): the cached
      # distortion of the current state, no decoder call.
      log_weights = state.log_weights - (beta - state.beta) * state.parts.distortion
      momentum, log_uniform = noise_at(step)
      kernel = transition_kernel(
          beta, state.step_size,
          (tf.reshape(momentum, [num_rows, latent_dim]),
           tf.reshape(log_uniform, [num_rows])), metric)
      # The cached parts start the transition: L decoder gradients, no more.
      results = kernel.bootstrap_results(state.latents,
                                         target_parts=state.parts)
      latents, results = kernel.one_step(state.latents, results)
      results = kernel_lib.innermost_results(results)
      accept_prob = tf.exp(tf.minimum(results.log_accept_ratio, 0.0))
      log_step_sum += tf.math.log(state.step_size)
      new_state = ChainState(latents, results.target_parts, log_weights,
                             results.step_size, beta)
      return step + 1, new_state, accept_sum + accept_prob, log_step_sum

    zeros = tf.zeros([num_rows], tf.float64)
    _, state, accept_sum, log_step_sum = tf.while_loop(
        lambda step, *_: step < num_steps, body,
        (tf.constant(0), state, zeros, zeros))
    return state, accept_sum, log_step_sum

  if preconditioned:
    def run_chunk_preconditioned(state, betas, noise_keys, first_transition,
                                 image_indices, num_steps, eigenvectors,
                                 eigenvalues):
      return run_chunk(state, betas, noise_keys, first_transition,
                       image_indices, num_steps, (eigenvectors, eigenvalues))
    return tf.function(run_chunk_preconditioned, jit_compile=jit_compile)

  def run_chunk_plain(state, betas, noise_keys, first_transition,
                      image_indices, num_steps):
    return run_chunk(state, betas, noise_keys, first_transition,
                     image_indices, num_steps, None)
  return tf.function(run_chunk_plain, jit_compile=jit_compile)


class TransitionRunner:
  """Runs stretches of HMC transitions on one annealed target.

  The compiled core of `PassLoop` (every pass: forward AIS and BDMC's
  reverse AIS): `run_chunk` advances a `ChainState` through a given
  sequence of inverse temperatures (increasing for forward AIS, decreasing
  for reverse AIS) with the log-weight update log w += -(β_new -
  β_old)·d(x, f(z)) before every transition, drawing its momenta and
  acceptance uniforms from the per-image stateless streams of
  `tfrd.randomness`; each transition is a `tfrd.kernel` kernel's
  `one_step` (see `_make_chunk_fn`). A chunk is one call of one
  compiled function: the noise is drawn inside it, transition by
  transition, from a few scalars and the image indices, and only the chunk's
  results come back. The loop is XLA-compiled where the decoder allows,
  falling back to graph mode under `jit_compile='auto'`, with the same random
  numbers either way.

  Args:
    target: a `tfrd.target.AnnealedTarget`.
    hmc_settings: a `tfrd.hmc.HMCSettings` (its leapfrog steps, target
      acceptance, adaptation rate and shared-step-size choice are used).
    jit_compile: True, False or 'auto'.
  """

  def __init__(self, target, hmc_settings, jit_compile='auto'):
    self.target = target
    self.hmc = hmc_settings
    self.jit_compile = jit_compile
    self._use_jit = jit_compile is True or jit_compile == 'auto'
    self._compiled = {}
    self._hessian_fn = None
    self.evaluate = tf.function(target)

  @property
  def jit_compiled(self):
    """Whether the chunks run (so far) under XLA."""
    return self._use_jit

  @property
  def num_images(self):
    return self.target.num_images

  @property
  def num_chains(self):
    return self.target.num_chains

  def _chunk_fn(self, adapt, preconditioned=False):
    key = (adapt, preconditioned)
    if key not in self._compiled:
      self._compiled[key] = _make_chunk_fn(
          self.target, self.hmc.num_leapfrog_steps, adapt,
          self.hmc.target_accept_prob, self.hmc.adaptation_rate,
          self._use_jit, self.hmc.shared_step_size, preconditioned)
    return self._compiled[key]

  def mean_hessian(self, latents):
    """Each image's mean distortion Hessian over its first few chains.

    Args:
      latents: [N·C, D] float64, image-major.

    Returns:
      float64 [N, D, D] (`tfrd.preconditioning.mean_distortion_hessian`
      over the first `min(C, HESSIAN_CHAINS)` chains of each image).
    """
    if self._hessian_fn is None:
      target = self.target
      self._hessian_fn = tf.function(
          lambda z: preconditioning.mean_distortion_hessian(
              target.distortion_of, z, target.num_images))
    num_chains = self.target.num_chains
    used = min(num_chains, preconditioning.HESSIAN_CHAINS)
    latents = tf.reshape(latents, [self.target.num_images, num_chains, -1])
    return self._hessian_fn(tf.reshape(latents[:, :used],
                                       [-1, latents.shape[-1]]))

  def _call(self, adapt, args, preconditioned=False):
    try:
      return self._chunk_fn(adapt, preconditioned)(*args)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError,
            tf.errors.InternalError) as error:
      if not (self.jit_compile == 'auto' and self._use_jit):
        raise
      tf.get_logger().warning(
          'XLA could not compile the AIS loop for this decoder (%s); '
          'falling back to graph mode.', str(error).split('\n')[0])
      self._use_jit = False
      self._compiled.clear()
      return self._chunk_fn(adapt, preconditioned)(*args)

  def run_chunk(self, state, betas, run_seed, first_transition,
                image_indices, adapt=False, metric=None):
    """Runs one transition per entry of `betas`, all in one random block.

    Args:
      state: the `ChainState` to start from; `state.beta` is the inverse
        temperature the chain is currently at.
      betas: the inverse temperatures of the transitions, in order (at most
        `randomness.BLOCK_SIZE`).
      run_seed: the seed of this run's random streams.
      first_transition: 1-based index of the first transition in the run;
        transition k draws the noise of position k - 1 of the run's streams.
        Every transition of the chunk must fall in the same block of
        `randomness.BLOCK_SIZE` (the compiled loop runs at most a block).
      image_indices: int [N], the images' global indices (their streams).
      adapt: whether the step sizes adapt during the chunk.
      metric: None (identity mass matrix), or the chunk's per-image
        (eigenvectors [N, D, D], eigenvalues [N, D]) float64 tensors
        (a row of `tfrd.preconditioning.MassMatrixTable.row_tensors`).

    Returns:
      (state, accept_sum [N·C], log_step_sum [N·C]): the new `ChainState`,
      the summed acceptance probabilities and summed log step sizes over the
      chunk's transitions.

    Raises:
      ValueError: if the chunk crosses a random block.
    """
    arguments = self._arguments(state, betas, run_seed, first_transition,
                                image_indices)
    if metric is None:
      return self._call(adapt, arguments)
    return self._call(adapt, arguments + tuple(metric), preconditioned=True)

  def compiler_ir(self, state, betas, run_seed, first_transition,
                  image_indices, adapt=False, stage='hlo'):
    """The XLA computation of the chunk `run_chunk` would run, as text.

    For inspecting what a device runs per chunk (`tests/test_gpu_readiness.py`
    checks that the whole transition loop, its decoder calls and its random
    draws are one computation with no host callbacks).

    Args:
      state, betas, run_seed, first_transition, image_indices, adapt: as for
        `run_chunk`.
      stage: 'hlo', 'optimized_hlo', ... (see
        `tf.function.experimental_get_compiler_ir`).

    Returns:
      The computation as a string.

    Raises:
      ValueError: if the runner does not compile with XLA, or the chunk
        crosses a random block.
    """
    if not self._use_jit:
      raise ValueError('This runner does not compile its chunks with XLA.')
    arguments = self._arguments(state, betas, run_seed, first_transition,
                                image_indices)
    return self._chunk_fn(adapt).experimental_get_compiler_ir(*arguments)(
        stage=stage)

  def _arguments(self, state, betas, run_seed, first_transition,
                 image_indices):
    """The compiled chunk function's arguments: the state and a few scalars."""
    num_steps = len(betas)
    first_offset = (first_transition - 1) % randomness.BLOCK_SIZE
    if num_steps < 1 or first_offset + num_steps > randomness.BLOCK_SIZE:
      raise ValueError(
          f'A chunk must hold 1 to {randomness.BLOCK_SIZE - first_offset} '
          f'transitions from transition {first_transition}, got {num_steps}.')
    # One fixed betas shape (a whole block, padded) and tensors, not Python
    # numbers, for everything else: the chunk function is traced once.
    padded = np.zeros([randomness.BLOCK_SIZE])
    padded[:num_steps] = betas
    return (state, tf.constant(padded),
            tf.constant(randomness.noise_keys(run_seed)),
            tf.constant(first_transition - 1, tf.int64),
            tf.constant(np.asarray(image_indices, np.int64)),
            tf.constant(num_steps))


def _initial_latents(prior, seed, image_indices, num_chains, latent_dim):
  """z_0 ~ p(z), C draws per image from that image's own stateless stream."""
  init_seed = randomness.derive_seed(seed, randomness.PURPOSES['initial_state'])
  sample = lambda key: prior.sample(num_chains, seed=key)
  if len(image_indices) >= _TRACE_PRIOR_SAMPLING_FROM:
    # Eager TFP sampling costs ~60 ms a call, a traced call ~2 ms after a
    # ~0.1 s trace; the stateless draws are the same numbers either way.
    sample = tf.function(sample)
  latents = [
      tf.cast(sample(randomness.int32_seed(init_seed, index)), tf.float64)
      for index in np.asarray(image_indices)]
  return tf.reshape(tf.stack(latents), [-1, latent_dim])


class RunState:
  """Everything a resumable run carries between chunks, in one layout.

  A resumed run must continue exactly where the interrupted one was, so the
  state is saved only at chunk ends, whole. This class is the one owner of
  what a checkpoint holds (`to_checkpoint` / `from_checkpoint`, always the
  same keys, shapes and dtypes for one run) and of the conversion to and
  from the `ChainState` the compiled loop carries.

  Its size does not grow with the schedule: the step-size tables have at
  most `tfrd.step_sizes.MAX_SEGMENTS` rows, everything else is per chain or
  per RD point (`tests/test_step_sizes.py` checks the bound).

  Attributes:
    phase: index of the pass in progress.
    next_chunk: index of the next chunk of that pass to run.
    chain: the `ChainState` at the end of the last chunk run (None before
      the pass started).
    used_steps: a `tfrd.step_sizes.StepSizeRecorder` of the step sizes the
      current pass used ([segments, N·C] geometric means).
    preliminary_table: [segments, N·C] the preliminary pass's table.
    recorded: dict from `RDEstimate` field to [P, N] per-image estimates.
    recorded_accept: [P] mean acceptance over the chunk ending at each point.
    recorded_latents: [P, N, D] float32 one latent per image and point, from
      q^AIS (for decoding; float32 halves the largest per-point record).
    elapsed_s: [number of passes] wall time spent in each pass.
  """

  def __init__(self, num_rows, num_images, latent_dim, segments, num_points,
               num_passes, num_anchors=None):
    self.num_rows = num_rows
    self.latent_dim = latent_dim
    self.phase = 0
    self.next_chunk = 0
    self.chain = None
    self.used_steps = step_sizes_lib.StepSizeRecorder(segments, num_rows)
    self.preliminary_table = np.zeros([self.used_steps.num_segments,
                                       num_rows])
    self.recorded = {name: np.zeros([num_points, num_images])
                     for name in estimators.RDEstimate._fields}
    self.recorded_accept = np.zeros([num_points])
    self.recorded_latents = np.zeros([num_points, num_images, latent_dim],
                                     np.float32)
    self.elapsed_s = np.zeros([num_passes])
    # Only runs with a Hessian mass matrix hold (and checkpoint) its table:
    # row 0 the identity, row k the k-th anchor's (tfrd.preconditioning).
    self.mass_eigenvectors = self.mass_eigenvalues = None
    if num_anchors is not None:
      self.mass_eigenvectors = np.tile(np.eye(latent_dim),
                                       [num_anchors + 1, num_images, 1, 1])
      self.mass_eigenvalues = np.zeros([num_anchors + 1, num_images,
                                        latent_dim])

  def to_checkpoint(self):
    """The state as a dict of arrays (the checkpoint layout)."""
    rows, dim = self.num_rows, self.latent_dim
    chain = self.chain
    values = {
        'phase': np.int64(self.phase), 'next_chunk': np.int64(self.next_chunk),
        'latents': (np.zeros([rows, dim]) if chain is None
                    else chain.latents.numpy()),
        'log_weights': (np.zeros([rows]) if chain is None
                        else chain.log_weights.numpy()),
        'step_size': (np.zeros([rows]) if chain is None
                      else chain.step_size.numpy()),
        'beta': np.float64(0.0 if chain is None else chain.beta.numpy()),
        'used_log_step_sums': self.used_steps.log_step_sums,
        'used_num_steps': self.used_steps.num_steps,
        'preliminary_table': self.preliminary_table,
        'recorded_accept': self.recorded_accept,
        'recorded_latents': self.recorded_latents, 'elapsed_s': self.elapsed_s,
    }
    for name, shape in (('prior_log_prob', [rows]), ('distortion', [rows]),
                        ('grad_prior_log_prob', [rows, dim]),
                        ('grad_distortion', [rows, dim])):
      values[name] = (np.zeros(shape) if chain is None
                      else getattr(chain.parts, name).numpy())
    for name, value in self.recorded.items():
      values['recorded_' + name] = value
    if self.mass_eigenvectors is not None:
      values['mass_eigenvectors'] = self.mass_eigenvectors
      values['mass_eigenvalues'] = self.mass_eigenvalues
    return values

  def from_checkpoint(self, values):
    """Takes over the values `to_checkpoint` gave (e.g. restored)."""
    self.phase = int(values['phase'])
    self.next_chunk = int(values['next_chunk'])
    self.chain = None if self.next_chunk == 0 else ChainState(
        tf.constant(values['latents']),
        target_lib.TargetParts(*(tf.constant(values[name]) for name in
                                 target_lib.TargetParts._fields)),
        tf.constant(values['log_weights']), tf.constant(values['step_size']),
        tf.constant(values['beta'], tf.float64))
    self.used_steps.log_step_sums = np.array(values['used_log_step_sums'])
    self.used_steps.num_steps = np.array(values['used_num_steps'])
    self.preliminary_table = np.array(values['preliminary_table'])
    self.recorded = {name: np.array(values['recorded_' + name])
                     for name in self.recorded}
    self.recorded_accept = np.array(values['recorded_accept'])
    self.recorded_latents = np.array(values['recorded_latents'])
    self.elapsed_s = np.array(values['elapsed_s'])
    if self.mass_eigenvectors is not None:
      self.mass_eigenvectors = np.array(values['mass_eigenvectors'])
      self.mass_eigenvalues = np.array(values['mass_eigenvalues'])

  def mass_matrix_table(self, chunk_rows):
    """The `MassMatrixTable` (None without a Hessian mass matrix)."""
    if self.mass_eigenvectors is None:
      return None
    return preconditioning.MassMatrixTable(
        self.mass_eigenvectors, self.mass_eigenvalues, chunk_rows)

  def estimates(self):
    """The recorded points as a list of per-image `RDEstimate`s."""
    num_points = self.recorded_accept.size
    return [estimators.RDEstimate(*(self.recorded[name][point]
                                    for name in estimators.RDEstimate._fields))
            for point in range(num_points)]


class Course(
    collections.namedtuple('Course',
                           ['betas', 'ends', 'forward_chunks', 'points',
                            'estimates'])):
  """The chunks a pass runs, in order: along the schedule, or back down it.

  Forward AIS (`forward_course`) runs the schedule's chunks
  (`chunk_boundaries`); reverse AIS (`tfrd.bdmc`) runs the schedule from
  its last β back to β_0 in chunks of its own, each replaying the step
  sizes and mass matrix of the forward chunk at the same β.

  Attributes:
    betas: float64 [n + 1]: the chains start at `betas[0]`, and transition
      k = 1..n of the pass runs at `betas[k]`.
    ends: int64 [K], increasing: the last transition of each chunk (chunk c
      runs transitions ends[c-1] + 1..ends[c]); no chunk crosses a random
      block.
    forward_chunks: int64 [K]: the chunk of the schedule's forward chunking
      whose step-size table row (`tfrd.step_sizes`) and mass-matrix row
      (`tfrd.preconditioning`) chunk c uses; 0..K-1 forward.
    points: int64 [P]: the transitions after which the pass checks that its
      log-weights are finite and, with `estimates`, records an RD point.
    estimates: whether the pass estimates (R, D, log Z) at its points
      (forward AIS, eq. 14–15), or only checks them (reverse AIS, whose
      final log-weights its caller reads).
  """
  __slots__ = ()

  @property
  def num_transitions(self):
    return self.betas.size - 1


def forward_course(schedule):
  """The `Course` of a forward pass over `schedule`."""
  ends = chunk_boundaries(schedule)
  return Course(np.asarray(schedule.betas, np.float64), ends,
                np.arange(ends.size, dtype=np.int64),
                np.asarray(schedule.rd_indices, np.int64), True)


class PassLoop:
  """Runs passes of AIS over a course of chunks: the one chunk loop.

  Every pass tfrd makes, the preliminary and reported passes of `run_ais`
  and the reverse pass of `tfrd.bdmc.run_bdmc`, runs here, so there is one
  place that starts the chains (from the prior or from given latents,
  refusing non-finite distortions), replays a frozen step-size table and
  mass-matrix table, runs the chunks through the compiled
  `TransitionRunner`, checks the log-weights at every point, records RD
  points, measures the Hessian mass matrix at its anchors, checkpoints,
  reports progress and honours a stop request.

  Args:
    runner: a `TransitionRunner` (or `tfrd.distribute.ReplicatedRunner`).
    schedule: the `AnnealingSchedule`; its forward chunking indexes the
      step-size and mass-matrix tables.
    prior: the prior (chains start from it unless given latents).
    seed: the run's seed; a pass draws from `derive_seed(seed, seed_tag)`.
    image_indices: int [N], the images' global indices.
    hmc_settings: the `HMCSettings`.
    step_size_table: None, or the [segments, N·C] table the passes whose
      `step_sizes` is 'given' replay.
    checkpointing: (checkpointer or None, least seconds between
      checkpoints).
    course: the `Course` the passes run; `forward_course(schedule)` if None.
    mass_matrix_table: None, or a `tfrd.preconditioning.MassMatrixTable` to
      replay frozen (reverse AIS replays the forward run's); otherwise,
      with `hmc_settings.mass_matrix == 'hessian'`, the table is the run
      state's, measured by the adapting pass at its anchors.
  """

  def __init__(self, runner, schedule, prior, seed, image_indices,
               hmc_settings, step_size_table=None, checkpointing=(None, 0.0),
               course=None, mass_matrix_table=None):
    self.runner = runner
    self.schedule = schedule
    self.prior = prior
    self.seed = seed
    self.image_indices = image_indices
    self.hmc = hmc_settings
    self.step_size_table = step_size_table
    self.given_mass_matrix = mass_matrix_table
    # (checkpointer or None, least seconds between checkpoints)
    self.checkpointer, self.checkpoint_interval_s = checkpointing
    self.course = forward_course(schedule) if course is None else course
    forward_ends = chunk_boundaries(schedule)
    # The step-size table row of each chunk of the course.
    self.segments = step_sizes_lib.chunk_segments(forward_ends.size)[
        self.course.forward_chunks]
    self.points = {int(k): i for i, k in enumerate(self.course.points)}
    self.last_save = time.time()
    # With a mass matrix: the table row each forward chunk uses, and (when
    # the run measures it) the anchor chunks, after which an adapting pass
    # measures each image's Hessian (anchor k fills table row k).
    self.anchors = self.chunk_rows = None
    self.anchor_rows = {}
    if mass_matrix_table is not None:
      self.chunk_rows = np.asarray(mass_matrix_table.chunk_rows)
    elif hmc_settings.mass_matrix == 'hessian':
      self.anchors = preconditioning.anchor_chunks(
          schedule.betas[forward_ends])
      self.chunk_rows = preconditioning.chunk_rows(forward_ends.size,
                                                   self.anchors)
      self.anchor_rows = {int(chunk): row + 1
                          for row, chunk in enumerate(self.anchors)}
    # The table's rows as device tensors, made again only when an anchor
    # changes the table.
    self.metrics = None

  def save(self, state):
    self.last_save = time.time()
    return self.checkpointer.save(state.to_checkpoint())

  def _start_chains(self, run_seed, table, start):
    """The pass's first `ChainState`: z_0 ~ p(z), or the given latents,
    with zero log-weights, the pass's first step sizes and β = betas[0]."""
    runner = self.runner
    num_rows = runner.num_images * runner.num_chains
    if start is None:
      latents = _initial_latents(self.prior, run_seed, self.image_indices,
                                 runner.num_chains,
                                 int(self.prior.event_shape[-1]))
      where = 'latent samples drawn from the prior'
    else:
      latents = tf.constant(np.asarray(start, np.float64))
      where = 'chains at their given starting latents'
    parts = self.runner.evaluate(latents)
    bad = ~np.isfinite(parts.distortion.numpy())
    if bad.any():
      raise DecoderOutputError(
          f'The decoder returned NaN or infinite outputs (or an infinite '
          f'distortion) for {int(bad.sum())} of {bad.size} {where}. Check '
          f'the model, its output range and the distortion.')
    step_size = (np.full([num_rows], self.hmc.initial_step_size)
                 if table is None else table[self.segments[0]])
    return ChainState(latents, parts, tf.zeros([num_rows], tf.float64),
                      tf.constant(step_size, tf.float64),
                      tf.constant(self.course.betas[0], tf.float64))

  def _metric(self, state, forward_chunk):
    """The chunk's mass matrix (None for the identity)."""
    if self.chunk_rows is None:
      return None
    if self.metrics is None:
      table = (self.given_mass_matrix if self.given_mass_matrix is not None
               else state.mass_matrix_table(self.chunk_rows))
      self.metrics = table.row_tensors()
    return self.metrics[self.chunk_rows[forward_chunk]]

  def _measure_anchor(self, state, forward_chunk):
    """At an anchor chunk's end, fills its table row from the chains."""
    row = self.anchor_rows.get(forward_chunk)
    if row is None:
      return
    hessians = self.runner.mean_hessian(state.chain.latents).numpy()
    if not np.all(np.isfinite(hessians)):
      raise DecoderOutputError(
          f'The distortion\'s Hessian is not finite at beta = '
          f'{float(state.chain.beta.numpy()):g}: the decoder is not twice '
          f'differentiable there; use the identity mass matrix.')
    (state.mass_eigenvectors[row],
     state.mass_eigenvalues[row]) = preconditioning.eigen_table_row(hessians)
    self.metrics = None

  def run_pass(self, pass_index, ais_pass, state, progress, stop,
               start=None):
    """Runs (or resumes) one pass; returns when its last chunk is done.

    Args:
      pass_index: the pass's index in the run (its `state.elapsed_s` slot).
      ais_pass: the `tfrd.passes.AISPass`.
      state: the `RunState`; `state.chain` None starts the pass's chains,
        otherwise the pass resumes at `state.next_chunk`.
      progress: None, or the callable receiving a `ProgressUpdate` after
        every chunk.
      stop: None, or an event; once set, the pass checkpoints at the end of
        the current chunk and raises `RunInterrupted`.
      start: None (the chains start from the prior), or latents [N·C, D]
        float64 to start them from (reverse AIS: exact samples of q_β).

    Returns:
      The acceptance probabilities summed over the chains and transitions
      this call ran (the whole pass unless it resumed).

    Raises:
      RunInterrupted: when `stop` is set, after checkpointing.
      DecoderOutputError: for non-finite distortions at the start, or
        non-finite log-weights or distortions at a point.
    """
    course = self.course
    start_time = time.time() - float(state.elapsed_s[pass_index])
    run_seed = randomness.derive_seed(self.seed, ais_pass.seed_tag)
    table = {'given': self.step_size_table,
             'preliminary': state.preliminary_table,
             None: None}[ais_pass.step_sizes]
    if state.chain is None:
      state.chain = self._start_chains(run_seed, table, start)
    num_points = course.points.size
    accept_total = 0.0
    for chunk_index in range(state.next_chunk, course.ends.size):
      end = int(course.ends[chunk_index])
      first = int(course.ends[chunk_index - 1]) + 1 if chunk_index else 1
      num_steps = end - first + 1
      forward_chunk = int(course.forward_chunks[chunk_index])
      chain = state.chain
      if table is not None:
        chain = chain._replace(step_size=tf.constant(
            table[self.segments[chunk_index]], tf.float64))
      chain, accept_sum, log_step_sum = self.runner.run_chunk(
          chain, course.betas[first:end + 1], run_seed, first,
          self.image_indices, ais_pass.adapt,
          self._metric(state, forward_chunk))
      state.chain = chain
      if ais_pass.adapt and self.anchor_rows:
        self._measure_anchor(state, forward_chunk)
      state.used_steps.add(chunk_index, log_step_sum.numpy(), num_steps)
      accept = accept_sum.numpy()
      accept_total += float(np.sum(accept))
      accept_rate = float(np.mean(accept) / num_steps)
      beta = float(course.betas[end])
      point = self.points.get(end)
      if point is not None:
        _check_finite(chain, beta, ais_pass.phase)
        if course.estimates:
          _record_point(state, point, beta, chain, accept_rate, run_seed,
                        self.image_indices)
      state.next_chunk = chunk_index + 1
      state.elapsed_s[pass_index] = time.time() - start_time
      if self.checkpointer is not None and (
          time.time() - self.last_save >= self.checkpoint_interval_s or
          chunk_index + 1 == course.ends.size):
        self.save(state)
      if progress is not None:
        progress(ProgressUpdate(
            ais_pass.phase, end, course.num_transitions,
            int(np.sum(course.points <= end)), num_points, beta, accept_rate,
            time.time() - start_time))
      if stop is not None and stop.is_set():
        raise RunInterrupted(
            self.save(state) if self.checkpointer is not None else None)
    return accept_total


def _check_finite(chain, beta, phase):
  """Raises `DecoderOutputError` unless the chains' log-weights and
  distortions are finite (checked at every point of a pass)."""
  if not (np.all(np.isfinite(chain.log_weights.numpy())) and
          np.all(np.isfinite(chain.parts.distortion.numpy()))):
    raise DecoderOutputError(
        f'Non-finite AIS log-weights or distortions at beta = {beta:g} '
        f'({phase} pass): the decoder produced NaN or infinite outputs along '
        f'the chain.')


class WorkerPart(
    collections.namedtuple('WorkerPart', ['checkpointer', 'shard_plan'])):
  """What `tfrd.estimate_rd_curve` prepares for this worker's part of a run.

  Attributes:
    checkpointer: None, or the `tfrd.checkpointing.AISCheckpointer` of this
      worker's checkpoint directory, fingerprinted with the whole run. When
      its directory holds a checkpoint of the run, `run_ais` resumes from it
      and yields exactly the result of an uninterrupted run.
    shard_plan: None, or the `tfrd.distribute.ShardPlan` of
      `control.strategy` over the run's images (planned over this worker's
      images if None).
  """
  __slots__ = ()

  def __new__(cls, checkpointer=None, shard_plan=None):
    return super().__new__(cls, checkpointer, shard_plan)


def run_ais(decoder, data, distortion, schedule, prior=None, latent_dim=None,
            image_indices=None, chains=None, control=None, worker=None):
  """Runs forward AIS from the prior and estimates every RD point.

  Args:
    decoder: a decoder (see `tfrd.target.AnnealedTarget`): a callable
      latents [B, D] -> outputs [B, ...], e.g. a Keras model.
    data: [N, ...] images, with as many elements per image as the decoder
      outputs per latent.
    distortion: a `tfrd.distortions.Distortion`.
    schedule: a `tfrd.schedules.AnnealingSchedule`.
    prior: TFP distribution with event shape [D]; standard normal if None.
    latent_dim: D; required when `prior` is None.
    image_indices: int [N], global indices of the images, which select each
      image's random streams; defaults to 0..N-1.
    chains: a `tfrd.ChainSettings` (chains per image, seed, `HMCSettings`,
      XLA, decoder dtype, a step-size table from an earlier run on the same
      schedule, `AISRun.step_size_table`, to replay frozen instead of
      adapting); `ChainSettings()` if None. With the default L = 2, give a
      schedule about five times longer than for the paper's L = 10 (see
      `tfrd.estimate_rd_curve`). With the same seed, images, schedule and
      settings, the result is identical.
    control: a `tfrd.RunControl`; `RunControl()` if None. Used here:
      `progress`, `checkpoint_interval_s` (least wall time between
      checkpoints; one is always written at the end of each pass), `stop`
      (once set, the run checkpoints at the end of the current chunk and
      raises `RunInterrupted`; apps set it from SIGTERM and Ctrl-C, so a
      batch scheduler's kill leaves a checkpoint of that moment) and
      `strategy` (a `tf.distribute.Strategy` whose local replicas share the
      images, `tfrd.distribute.ReplicatedRunner`; with it, `data` are this
      worker's images, `worker.shard_plan.local_images` of the run's image
      list, and `tfrd.estimate_rd_curve` does the split and the merge across
      workers). Its `checkpoint_dir` and `resume` are
      `tfrd.estimate_rd_curve`'s: here the checkpoints go through
      `worker.checkpointer`.
    worker: a `WorkerPart` (checkpointer and shard plan); none if None.

  Returns:
    An `AISRun`.

  Raises:
    RunInterrupted: when `control.stop` was set.
    DecoderOutputError: if the decoder returns non-finite values at the
      initial states or the log-weights become non-finite.
    tfrd.checkpointing.CheckpointMismatchError: if the checkpoint belongs to
      another model, data, schedule or settings.
    ValueError: for invalid arguments (e.g. `control.checkpoint_dir` without
      `worker.checkpointer`).
  """
  chains = settings_lib.ChainSettings() if chains is None else chains
  control = settings_lib.RunControl() if control is None else control
  worker = WorkerPart() if worker is None else worker
  if control.checkpoint_dir is not None and worker.checkpointer is None:
    raise ValueError(
        'run_ais checkpoints through worker=WorkerPart(checkpointer=...); '
        'tfrd.estimate_rd_curve makes one from control.checkpoint_dir.')
  hmc_settings = chains.hmc
  num_chains, step_size_table = chains.num_chains, chains.step_size_table
  checkpointer, strategy = worker.checkpointer, control.strategy
  shard_plan = worker.shard_plan
  if prior is None:
    if latent_dim is None:
      raise ValueError('Give latent_dim (or a prior).')
    prior = target_lib.standard_normal_prior(int(latent_dim))
  latent_dim = int(prior.event_shape[-1])
  data = np.asarray(data)
  num_images = data.shape[0]
  image_indices = randomness.check_image_indices(image_indices, num_images)
  num_rows = num_images * num_chains
  num_segments = int(step_sizes_lib.chunk_segments(
      chunk_boundaries(schedule).size)[-1]) + 1
  preconditioned = hmc_settings.mass_matrix == 'hessian'
  if preconditioned and step_size_table is not None:
    raise ValueError(
        "mass_matrix='hessian' is measured while the run's step sizes adapt: "
        'it cannot replay a step-size table from another run.')
  if step_size_table is not None:
    step_size_table = np.asarray(step_size_table, dtype=np.float64)
    if step_size_table.shape != (num_segments, num_rows):
      raise ValueError(
          f'The step-size table has shape {step_size_table.shape}, but this '
          f'run needs ({num_segments}, {num_rows}) (segments of the '
          f'schedule, images × chains): it was made for another schedule, '
          f'batch or chain count.')
  plan = passes_lib.plan_passes(hmc_settings.step_size_mode,
                                step_size_table is not None)

  def make_runner(first, stop):
    target = target_lib.AnnealedTarget(decoder, prior, distortion,
                                       data[first:stop], num_chains,
                                       chains.decoder_dtype)
    return TransitionRunner(target, hmc_settings, chains.jit_compile)

  if strategy is None:
    runner = make_runner(0, num_images)
  else:
    if shard_plan is None:
      shard_plan = distribute.plan_shards(strategy, num_images)
    if sum(shard_plan.local_sizes) != num_images:
      raise ValueError(
          f'The shard plan gives this worker {sum(shard_plan.local_sizes)} '
          f'images, but {num_images} were given.')
    runner = distribute.ReplicatedRunner(strategy, shard_plan, make_runner)
  loop = PassLoop(runner, schedule, prior, chains.seed, image_indices,
                  hmc_settings, step_size_table,
                  (checkpointer, control.checkpoint_interval_s))
  state = RunState(num_rows, num_images, latent_dim, loop.segments,
                   schedule.rd_indices.size, len(plan),
                   loop.anchors.size if preconditioned else None)
  if checkpointer is not None:
    restored = checkpointer.restore(state.to_checkpoint())
    if restored is not None:
      state.from_checkpoint(restored)

  for pass_index, ais_pass in enumerate(plan):
    if pass_index < state.phase:
      continue
    loop.run_pass(pass_index, ais_pass, state, control.progress,
                  control.stop)
    if pass_index + 1 < len(plan):
      if ais_pass.phase == 'preliminary':
        state.preliminary_table = state.used_steps.table()
      state.used_steps.reset()
      state.phase, state.next_chunk = pass_index + 1, 0
      if checkpointer is not None:
        loop.save(state)
      state.chain = None

  return AISRun(
      betas=np.asarray(schedule.rd_betas),
      estimates=state.estimates(),
      step_size_table=state.used_steps.table(),
      accept_rates=state.recorded_accept.copy(),
      latents=state.recorded_latents.copy(),
      num_decoder_gradients=passes_lib.decoder_gradients_per_chain(
          schedule.num_transitions, hmc_settings.num_leapfrog_steps,
          hmc_settings.step_size_mode, step_size_table is not None) + (
              hessian_decoder_gradients(schedule, latent_dim, chains)),
      jit_compiled=runner.jit_compiled,
      wall_time_s={ais_pass.phase: float(state.elapsed_s[i])
                   for i, ais_pass in enumerate(plan)},
      mass_matrix_table=state.mass_matrix_table(loop.chunk_rows))


def hessian_decoder_gradients(schedule, latent_dim, chains):
  """What the Hessian mass matrix adds to a run's decoder gradients per
  chain (0 with the identity): its anchors' Hessian rows on `schedule`,
  each image's shared by its chains, rounded up (`tfrd.preconditioning`)."""
  if chains.hmc.mass_matrix != 'hessian':
    return 0
  anchors = preconditioning.anchor_chunks(
      schedule.betas[chunk_boundaries(schedule)])
  return -(-preconditioning.hessian_gradients_per_image(
      anchors.size, latent_dim, chains.num_chains) // chains.num_chains)


def _record_point(state, point, beta, chain, accept_rate, run_seed,
                  image_indices):
  """Estimates eq. 14–15 at an RD point and keeps one latent per image.

  The kept latent is drawn from the AIS distribution q_k^AIS (eq. 12): one
  chain per image chosen with probability w̃_k^i, by the Gumbel-max trick on
  the image's own stateless stream. Decoding it shows what the rate buys
  (appendix D.4).
  """
  num_images = image_indices.size
  log_weights = chain.log_weights.numpy().reshape(num_images, -1)
  num_chains = log_weights.shape[1]
  distortions = chain.parts.distortion.numpy().reshape(num_images, num_chains)
  estimate = estimators.estimate_rate_distortion(beta, log_weights,
                                                 distortions)
  for name, value in estimate._asdict().items():
    state.recorded[name][point] = value
  state.recorded_accept[point] = accept_rate
  uniforms = randomness.per_image_uniform(
      randomness.derive_seed(run_seed, randomness.PURPOSES['resampling'],
                             point), image_indices, num_chains).numpy()
  gumbel = -np.log(-np.log(np.clip(uniforms, 1e-300, 1.0)))
  chosen = np.argmax(log_weights + gumbel, axis=1)
  latents = chain.latents.numpy().reshape(num_images, num_chains, -1)
  state.recorded_latents[point] = latents[np.arange(num_images), chosen]
