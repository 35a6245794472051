"""The compiled AIS loop that traces a whole rate-prior distortion curve.

One forward AIS run along q_k(z|x) ∝ p(z) exp(-β_k d(x, f(z))) (eq. 10) with
HMC transitions visits every point of the curve (§4). The loop over
temperatures is a `tf.function` (XLA-compiled where possible) that runs one
*chunk* of transitions per call: the stretch up to the next RD point or the
end of a random block, whichever comes first. Python touches the chain only
between chunks, to record RD points and report progress.

Step sizes (appendix D.2): by default a preliminary run adapts per-chain step
sizes toward 65% acceptance and records, for every chunk, the geometric mean
step size of each chain; the reported run replays that table, frozen, with a
fresh seed.
"""

import collections
import time

import numpy as np
import tensorflow as tf

from tfrd import estimators
from tfrd import hmc
from tfrd import randomness
from tfrd import target as target_lib

__all__ = ['ChainState', 'ProgressUpdate', 'AISRun', 'DecoderOutputError',
           'RunInterrupted', 'STEP_SIZE_MODES', 'chunk_boundaries', 'TransitionRunner',
           'run_ais']

STEP_SIZE_MODES = ('two_pass', 'adaptive', 'fixed')

# Seed tags: the preliminary and the reported run draw independent numbers.
_PRELIMINARY_RUN, _REPORTED_RUN = 1, 2

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
         'num_decoder_gradients', 'jit_compiled', 'wall_time_s'])):
  """Raw result of `run_ais`.

  Attributes:
    betas: [P] inverse temperatures of the RD points.
    estimates: list of P `RDEstimate`s (per image).
    step_size_table: [num_chunks, N·C] float64 step sizes the reported run
      used, reusable by a later run on the same images and schedule.
    accept_rates: [P] mean acceptance probability over the chunk that ended
      at each RD point (of the reported run).
    latents: [P, N, D] one latent per image and RD point, drawn from the AIS
      distribution q_k^AIS (eq. 12), for reconstructions.
    num_decoder_gradients: decoder gradient evaluations per chain, both runs.
    jit_compiled: whether the loop ran under XLA.
    wall_time_s: dict of wall times by phase.
  """
  __slots__ = ()


def chunk_boundaries(schedule):
  """Ends (inclusive transition indices) of the chunks the loop runs.

  A chunk ends at every RD point, at the end of every random block and at
  the last transition, so that each chunk uses one block of random numbers.
  """
  num_transitions = schedule.num_transitions
  block_ends = np.arange(randomness.BLOCK_SIZE, num_transitions + 1,
                         randomness.BLOCK_SIZE)
  ends = np.union1d(np.union1d(schedule.rd_indices, block_ends),
                    [num_transitions])
  return ends.astype(np.int64)


def _make_chunk_fn(target, num_leapfrog_steps, adapt, target_accept_prob,
                   adaptation_rate, jit_compile, shared_step_size=False):
  """Builds the compiled function that runs transitions of one chunk."""
  num_rows = target.num_images * target.num_chains

  def run_chunk(state, betas, momentum, log_uniform, first_offset, num_steps):
    latent_dim = tf.shape(state.latents)[-1]

    def body(step, state, accept_sum, log_step_sum):
      beta = betas[step]
      # log w_k = log w_{k-1} - (β_k - β_{k-1}) d(x, f(z_{k-1})): the cached
      # distortion of the current state, no decoder call.
      log_weights = state.log_weights - (beta - state.beta) * state.parts.distortion
      offset = first_offset + step
      result = hmc.hmc_transition(
          target, beta, state.latents, state.parts,
          tf.reshape(momentum[:, offset], [num_rows, latent_dim]),
          tf.reshape(log_uniform[:, offset], [num_rows]),
          state.step_size, num_leapfrog_steps)
      accept_prob = tf.exp(tf.minimum(result.log_accept_ratio, 0.0))
      log_step_sum += tf.math.log(state.step_size)
      step_size = state.step_size
      if adapt:
        log_accept_ratio = result.log_accept_ratio
        if shared_step_size:
          # One step size per image: every chain of the image takes the same
          # update, driven by their mean acceptance probability (log of a
          # probability <= 1, so adapt_step_size reads it back unchanged).
          mean_accept = tf.reduce_mean(
              tf.reshape(accept_prob, [target.num_images, target.num_chains]),
              axis=1, keepdims=True)
          log_accept_ratio = tf.reshape(
              tf.broadcast_to(tf.math.log(mean_accept),
                              [target.num_images, target.num_chains]),
              [num_rows])
        step_size = hmc.adapt_step_size(step_size, log_accept_ratio,
                                        target_accept_prob, adaptation_rate)
      new_state = ChainState(result.state, result.parts, log_weights,
                             step_size, beta)
      return step + 1, new_state, accept_sum + accept_prob, log_step_sum

    zeros = tf.zeros([num_rows], tf.float64)
    _, state, accept_sum, log_step_sum = tf.while_loop(
        lambda step, *_: step < num_steps, body,
        (tf.constant(0), state, zeros, zeros))
    return state, accept_sum, log_step_sum

  return tf.function(run_chunk, jit_compile=jit_compile)


class TransitionRunner:
  """Runs stretches of HMC transitions on one annealed target.

  The reusable core of `run_ais`, also used by `tfrd.bdmc` for reverse AIS:
  `run_chunk` advances a `ChainState` through a given sequence of inverse
  temperatures (increasing for forward AIS, decreasing for reverse AIS) with
  the log-weight update log w += -(β_new - β_old)·d(x, f(z)) before every
  transition, drawing its momenta and acceptance uniforms from the per-image
  stateless streams of `tfrd.randomness`. The loop is XLA-compiled where the
  decoder allows, falling back to graph mode under `jit_compile='auto'`.

  Args:
    target: a `tfrd.target.AnnealedTarget`.
    num_leapfrog_steps: L, leapfrog steps per transition.
    target_accept_prob: target acceptance of step-size adaptation.
    adaptation_rate: see `tfrd.hmc.adapt_step_size`.
    jit_compile: True, False or 'auto'.
    shared_step_size: adapt one step size per image (all its chains alike,
      on their mean acceptance) instead of one per chain.
  """

  def __init__(self, target, num_leapfrog_steps, target_accept_prob=0.65,
               adaptation_rate=0.05, jit_compile='auto',
               shared_step_size=False):
    self.target = target
    self.num_leapfrog_steps = num_leapfrog_steps
    self.target_accept_prob = target_accept_prob
    self.adaptation_rate = adaptation_rate
    self.jit_compile = jit_compile
    self.shared_step_size = bool(shared_step_size)
    self._use_jit = jit_compile is True or jit_compile == 'auto'
    self._compiled = {}
    self._noise = (None, None)  # (key, numbers) of the last random block
    self.evaluate = tf.function(target)

  @property
  def jit_compiled(self):
    """Whether the chunks run (so far) under XLA."""
    return self._use_jit

  def _chunk_fn(self, adapt):
    if adapt not in self._compiled:
      self._compiled[adapt] = _make_chunk_fn(
          self.target, self.num_leapfrog_steps, adapt,
          self.target_accept_prob, self.adaptation_rate, self._use_jit,
          self.shared_step_size)
    return self._compiled[adapt]

  def _call(self, adapt, args):
    try:
      return self._chunk_fn(adapt)(*args)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError,
            tf.errors.InternalError) as error:
      if not (self.jit_compile == 'auto' and self._use_jit):
        raise
      tf.get_logger().warning(
          'XLA could not compile the AIS loop for this decoder (%s); '
          'falling back to graph mode.', str(error).split('\n')[0])
      self._use_jit = False
      self._compiled.clear()
      return self._chunk_fn(adapt)(*args)

  def run_chunk(self, state, betas, run_seed, first_transition,
                image_indices, adapt=False):
    """Runs one transition per entry of `betas`, all in one random block.

    Args:
      state: the `ChainState` to start from; `state.beta` is the inverse
        temperature the chain is currently at.
      betas: the inverse temperatures of the transitions, in order (at most
        `randomness.BLOCK_SIZE`).
      run_seed: the seed of this run's random streams.
      first_transition: 1-based index of the first transition in the run;
        it selects the random block and the offset in it, so every transition
        of the chunk must fall in the same block of `randomness.BLOCK_SIZE`.
      image_indices: int [N], the images' global indices (their streams).
      adapt: whether the step sizes adapt during the chunk.

    Returns:
      (state, accept_sum [N·C], log_step_sum [N·C]): the new `ChainState`,
      the summed acceptance probabilities and summed log step sizes over the
      chunk's transitions.

    Raises:
      ValueError: if the chunk crosses a random block.
    """
    num_steps = len(betas)
    block, first_offset = divmod(first_transition - 1, randomness.BLOCK_SIZE)
    if num_steps < 1 or first_offset + num_steps > randomness.BLOCK_SIZE:
      raise ValueError(
          f'A chunk must hold 1 to {randomness.BLOCK_SIZE - first_offset} '
          f'transitions from transition {first_transition}, got {num_steps}.')
    # Chunks that split a block (at RD points, or where reverse AIS changes
    # step sizes) reuse its numbers instead of drawing them again.
    key = (run_seed, block, np.asarray(image_indices).tobytes())
    if self._noise[0] != key:
      self._noise = (key, randomness.draw_block_noise(
          run_seed, block, image_indices, self.target.num_chains,
          int(state.latents.shape[-1])))
    momentum, log_uniform = self._noise[1]
    padded = np.zeros([randomness.BLOCK_SIZE])
    padded[:num_steps] = betas
    return self._call(adapt, (state, tf.constant(padded), momentum,
                              log_uniform, tf.constant(first_offset),
                              tf.constant(num_steps)))


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


def run_ais(decoder, data, distortion, schedule, num_chains=16,
            num_leapfrog_steps=2, seed=0, prior=None, latent_dim=None,
            image_indices=None, step_size_mode='two_pass',
            initial_step_size=0.1, target_accept_prob=0.65,
            adaptation_rate=0.05, step_size_table=None, jit_compile='auto',
            decoder_dtype=tf.float32, progress=None, checkpointer=None,
            checkpoint_interval_s=60.0, shared_step_size=False, stop=None):
  """Runs forward AIS from the prior and estimates every RD point.

  Args:
    decoder: callable latents [B, D] -> outputs [B, ...] (e.g. a Keras model).
    data: [N, ...] images, with as many elements per image as the decoder
      outputs per latent.
    distortion: a `tfrd.distortions.Distortion`.
    schedule: a `tfrd.schedules.AnnealingSchedule`.
    num_chains: independent AIS chains per image (M).
    num_leapfrog_steps: leapfrog steps per HMC transition (L); with the
      default 2, give a schedule about five times longer than for the
      paper's L = 10 (see `tfrd.estimate_rd_curve`).
    seed: integer seed; with the same seed, images and schedule, the result
      is identical.
    prior: TFP distribution with event shape [D]; standard normal if None.
    latent_dim: D; required when `prior` is None.
    image_indices: int [N], global indices of the images, which select each
      image's random streams; defaults to 0..N-1.
    step_size_mode: 'two_pass' (preliminary adaptive run, then a frozen
      replay with a fresh seed; appendix D.2), 'adaptive' (one run that adapts
      as it goes: half the cost, but the adaptation makes the chain slightly
      non-Markov) or 'fixed' (`initial_step_size` throughout).
    initial_step_size: starting (or fixed) step size.
    target_accept_prob: target acceptance of the adaptation.
    adaptation_rate: see `tfrd.hmc.adapt_step_size`.
    step_size_table: optional [num_chunks, N·C] table from an earlier run
      (`AISRun.step_size_table`); replayed frozen instead of adapting.
    jit_compile: True, False or 'auto' (XLA, falling back to graph mode if
      the decoder does not compile).
    decoder_dtype: the decoder's input and computation dtype.
    progress: optional callable receiving `ProgressUpdate`s.
    checkpointer: optional `tfrd.checkpointing.AISCheckpointer`. When its
      directory holds a checkpoint of this run, the run resumes from it and
      yields exactly the result of an uninterrupted run.
    checkpoint_interval_s: least wall time between checkpoints (one is
      always written at the end of each pass).
    shared_step_size: when adapting, give all chains of an image one step
      size, adapted on their mean acceptance, instead of one per chain (the
      per-chain default lets a chain stuck in a narrow mode take smaller
      steps; see docs/bdmc.md for what each choice buys).
    stop: optional `threading.Event` (anything with `is_set()`); once set,
      the run checkpoints at the end of the current chunk and raises
      `RunInterrupted`. Apps set it from SIGTERM and Ctrl-C, so a batch
      scheduler's kill leaves a checkpoint of that moment.

  Returns:
    An `AISRun`.

  Raises:
    RunInterrupted: when `stop` was set.
    DecoderOutputError: if the decoder returns non-finite values at the
      initial states or the log-weights become non-finite.
    tfrd.checkpointing.CheckpointMismatchError: if the checkpoint belongs to
      another model, data, schedule or settings.
    ValueError: for invalid arguments.
  """
  if step_size_mode not in STEP_SIZE_MODES:
    raise ValueError(f'step_size_mode must be one of {STEP_SIZE_MODES}, got '
                     f'{step_size_mode!r}.')
  if num_chains < 1 or num_leapfrog_steps < 1:
    raise ValueError('num_chains and num_leapfrog_steps must be >= 1.')
  if not initial_step_size > 0:
    raise ValueError(f'initial_step_size must be positive, got '
                     f'{initial_step_size!r}.')
  if prior is None:
    if latent_dim is None:
      raise ValueError('Give latent_dim (or a prior).')
    prior = target_lib.standard_normal_prior(int(latent_dim))
  latent_dim = int(prior.event_shape[-1])
  data = np.asarray(data)
  num_images = data.shape[0]
  if image_indices is None:
    image_indices = np.arange(num_images)
  image_indices = np.asarray(image_indices, dtype=np.int64)
  if image_indices.shape != (num_images,):
    raise ValueError(f'image_indices has shape {image_indices.shape}, '
                     f'expected ({num_images},).')

  target = target_lib.AnnealedTarget(decoder, prior, distortion, data,
                                     num_chains, decoder_dtype)
  boundaries = chunk_boundaries(schedule)
  num_rows = num_images * num_chains
  if step_size_table is not None:
    step_size_table = np.asarray(step_size_table, dtype=np.float64)
    if step_size_table.shape != (boundaries.size, num_rows):
      raise ValueError(
          f'The step-size table has shape {step_size_table.shape}, but this '
          f'run needs ({boundaries.size}, {num_rows}) (chunks, images × '
          f'chains): it was made for another schedule, batch or chain count.')

  runner = TransitionRunner(target, num_leapfrog_steps, target_accept_prob,
                            adaptation_rate, jit_compile, shared_step_size)
  evaluate = runner.evaluate

  # The passes this run makes: (phase, seed tag, adapt?, step-size table).
  if step_size_table is not None:
    passes = [('reported', _REPORTED_RUN, False, 'given')]
  elif step_size_mode == 'two_pass':
    passes = [('preliminary', _PRELIMINARY_RUN, True, None),
              ('reported', _REPORTED_RUN, False, 'preliminary')]
  else:
    passes = [('reported', _REPORTED_RUN, step_size_mode == 'adaptive', None)]

  num_points = schedule.rd_indices.size
  num_chunks = boundaries.size
  # Every value a resumed run needs, with fixed shapes (the checkpoint layout).
  saved = {
      'phase': np.int64(0), 'next_chunk': np.int64(0),
      'latents': np.zeros([num_rows, latent_dim]),
      'prior_log_prob': np.zeros([num_rows]),
      'distortion': np.zeros([num_rows]),
      'grad_prior_log_prob': np.zeros([num_rows, latent_dim]),
      'grad_distortion': np.zeros([num_rows, latent_dim]),
      'log_weights': np.zeros([num_rows]), 'step_size': np.zeros([num_rows]),
      'beta': np.float64(0.0),
      'used_steps': np.zeros([num_chunks, num_rows]),
      'preliminary_table': np.zeros([num_chunks, num_rows]),
      'recorded_accept': np.zeros([num_points]),
      'recorded_latents': np.zeros([num_points, num_images, latent_dim]),
      'elapsed_s': np.zeros([len(passes)]),
  }
  for name in estimators.RDEstimate._fields:
    saved['recorded_' + name] = np.zeros([num_points, num_images])
  resumed = checkpointer.restore(saved) if checkpointer is not None else None
  if resumed is not None:
    saved = resumed
  last_save = time.time()
  rd_positions = {int(k): i for i, k in enumerate(schedule.rd_indices)}

  def save_checkpoint(state):
    saved.update(
        latents=state.latents.numpy(), log_weights=state.log_weights.numpy(),
        step_size=state.step_size.numpy(), beta=state.beta.numpy(),
        **{name: value.numpy()
           for name, value in state.parts._asdict().items()})
    return checkpointer.save(saved)

  for phase_index, (phase, run_tag, adapt, table_kind) in enumerate(passes):
    if phase_index < saved['phase']:
      continue
    start_time = time.time() - float(saved['elapsed_s'][phase_index])
    run_seed = randomness.derive_seed(seed, run_tag)
    table = {'given': step_size_table, 'preliminary': saved['preliminary_table'],
             None: None}[table_kind]
    if saved['next_chunk'] > 0:
      # Resuming inside this pass: the chain state comes from the checkpoint.
      state = ChainState(
          tf.constant(saved['latents']),
          target_lib.TargetParts(*(tf.constant(saved[name]) for name in
                                   target_lib.TargetParts._fields)),
          tf.constant(saved['log_weights']), tf.constant(saved['step_size']),
          tf.constant(saved['beta'], tf.float64))
    else:
      latents = _initial_latents(prior, run_seed, image_indices, num_chains,
                                 latent_dim)
      parts = evaluate(latents)
      bad = ~np.isfinite(parts.distortion.numpy())
      if bad.any():
        raise DecoderOutputError(
            f'The decoder returned NaN or infinite outputs (or an infinite '
            f'distortion) for {int(bad.sum())} of {bad.size} latent samples '
            f'drawn from the prior. Check the model, its output range and the '
            f'distortion.')
      step_size = (np.full([num_rows], float(initial_step_size))
                   if table is None else table[0])
      state = ChainState(latents, parts, tf.zeros([num_rows], tf.float64),
                         tf.constant(step_size, tf.float64),
                         tf.constant(0.0, tf.float64))
    for chunk_index in range(int(saved['next_chunk']), num_chunks):
      end = int(boundaries[chunk_index])
      first = int(boundaries[chunk_index - 1]) + 1 if chunk_index else 1
      num_steps = end - first + 1
      if table is not None:
        state = state._replace(
            step_size=tf.constant(table[chunk_index], tf.float64))
      state, accept_sum, log_step_sum = runner.run_chunk(
          state, schedule.betas[first:end + 1], run_seed, first,
          image_indices, adapt)
      saved['used_steps'][chunk_index] = np.exp(log_step_sum.numpy() /
                                                num_steps)
      accept_rate = float(np.mean(accept_sum.numpy()) / num_steps)
      point = rd_positions.get(end)
      if point is not None:
        _record_point(saved, point, float(schedule.betas[end]), state,
                      num_images, num_chains, latent_dim, accept_rate,
                      run_seed, image_indices)
      saved['next_chunk'] = np.int64(chunk_index + 1)
      saved['elapsed_s'][phase_index] = time.time() - start_time
      if checkpointer is not None and (
          time.time() - last_save >= checkpoint_interval_s or
          chunk_index + 1 == num_chunks):
        save_checkpoint(state)
        last_save = time.time()
      if progress is not None:
        progress(ProgressUpdate(
            phase, end, schedule.num_transitions,
            int(np.sum([rd <= end for rd in schedule.rd_indices])),
            num_points, float(schedule.betas[end]), accept_rate,
            time.time() - start_time))
      if stop is not None and stop.is_set():
        raise RunInterrupted(
            save_checkpoint(state) if checkpointer is not None else None)
    if phase == 'preliminary':
      saved['preliminary_table'] = saved['used_steps'].copy()
    if phase_index + 1 < len(passes):
      saved['phase'] = np.int64(phase_index + 1)
      saved['next_chunk'] = np.int64(0)
      if checkpointer is not None:
        save_checkpoint(state)
        last_save = time.time()

  estimates = [
      estimators.RDEstimate(*(saved['recorded_' + name][point]
                              for name in estimators.RDEstimate._fields))
      for point in range(num_points)]
  gradients_per_pass = 1 + schedule.num_transitions * num_leapfrog_steps
  return AISRun(
      betas=np.asarray(schedule.rd_betas),
      estimates=estimates,
      step_size_table=saved['used_steps'].copy(),
      accept_rates=saved['recorded_accept'].copy(),
      latents=saved['recorded_latents'].copy(),
      num_decoder_gradients=len(passes) * gradients_per_pass,
      jit_compiled=runner.jit_compiled,
      wall_time_s={phase: float(saved['elapsed_s'][i])
                   for i, (phase, *_) in enumerate(passes)})


def _record_point(saved, point, beta, state, num_images, num_chains,
                  latent_dim, accept_rate, run_seed, image_indices):
  """Estimates eq. 14–15 at an RD point and keeps one latent per image.

  The kept latent is drawn from the AIS distribution q_k^AIS (eq. 12): one
  chain per image chosen with probability w̃_k^i, by the Gumbel-max trick on
  the image's own stateless stream. Decoding it shows what the rate buys
  (appendix D.4).
  """
  log_weights = state.log_weights.numpy().reshape(num_images, num_chains)
  distortions = state.parts.distortion.numpy().reshape(num_images, num_chains)
  try:
    estimate = estimators.estimate_rate_distortion(beta, log_weights,
                                                   distortions)
  except ValueError as error:
    raise DecoderOutputError(f'At beta = {beta:g}: {error}') from None
  for name, value in estimate._asdict().items():
    saved['recorded_' + name][point] = value
  saved['recorded_accept'][point] = accept_rate
  uniforms = randomness.per_image_uniform(
      randomness.derive_seed(run_seed, randomness.PURPOSES['resampling'],
                             point), image_indices, num_chains).numpy()
  gumbel = -np.log(-np.log(np.clip(uniforms, 1e-300, 1.0)))
  chosen = np.argmax(log_weights + gumbel, axis=1)
  latents = state.latents.numpy().reshape(num_images, num_chains, latent_dim)
  saved['recorded_latents'][point] = latents[np.arange(num_images), chosen]
