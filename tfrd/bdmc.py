"""Bidirectional Monte Carlo (BDMC): how tight is an AIS estimate of log Z?

Forward AIS from the prior gives log Ẑ_fwd, a stochastic *lower* bound on
log Z_β(x) (Jensen's inequality on the unbiased Ẑ, §2.1). Running AIS in
reverse, from an exact sample of q_β(z|x) down to the prior, gives weights
with E[w_rev] = Z_0 / Z_β = 1 / Z_β, so log Ẑ_rev = -log mean_i w_rev^i is a
stochastic *upper* bound (Grosse et al., 2015). The difference, the BDMC gap,
bounds the error of either estimate and hence of the rate R̂ = -log Ẑ - βD̂
(eq. 15) at that point of the schedule, for the simulated data (paper §2.1,
appendix D.3.2, Fig. 9); for other data, such as the images a curve is
estimated on, it is an indication, not a bound.

Exact samples of q_β(z|x) exist only for data simulated from the model: draw
z ~ p(z), then x from the channel p_β(x|z) ∝ exp(-β d(x, f(z))). When the
channel's normalizer ∫ exp(-β d(x, f(z))) dx does not depend on z, the
posterior of that joint is exactly q_β(z|x) ∝ p(z) exp(-β d(x, f(z))) (eq. 10)
and the generating z is an exact sample of it. That holds for squared error
and fixed-scale Gaussian NLL at every β (a Gaussian channel of variance
1/(2β) or σ²/β), and for Bernoulli NLL and decoder-variance Gaussian NLL at
β = 1 only (then exp(-d) is the decoder's own likelihood).

Reverse AIS walks the forward schedule backwards, β_n → β_{n-1} → ... → β_0,
with the log-weight update log w += (β_j - β_{j-1})·d(x, f(z)) at the current
state before the transition at β_{j-1}: the forward update
-(β_new - β_old)·d fed the decreasing betas. It uses the forward run's
per-chain step sizes, frozen: a reverse chain that adapted would not be a
Markov chain and its weights would not be unbiased.

Both directions run on tfrd's one AIS driver (`tfrd.ais`): the forward run
is `run_ais`, and the reverse run is one more pass of the same
`tfrd.ais.PassLoop` (`tfrd.passes.REVERSE_PASS`) along a reverse
`tfrd.ais.Course` (`_reverse_course`: β_n down to β_0, in chunks that cross
neither a random block nor a forward chunk, each replaying the forward
chunk's step-size and mass-matrix rows), started from the simulated
latents. So its transitions are the same `tfrd.kernel.AnnealedHMC` kernels
in the same compiled chunk, and the start check, the weight check, the
table replay, progress and stop requests are the forward run's.
`tests/test_bdmc.py` checks the bounds against the exact log Z of linear
decoders, and that the reverse run goes through that loop (its progress,
its stop, its non-finite checks).
"""

import collections
import math
import time

import numpy as np
import tensorflow as tf

from tfrd import ais
from tfrd import decoders as decoders_lib
from tfrd import distortions as distortions_lib
from tfrd import passes as passes_lib
from tfrd import randomness
from tfrd import schedules as schedules_lib
from tfrd import settings as settings_lib
from tfrd import target as target_lib

__all__ = ['SimulatedData', 'BDMCResult', 'simulate_data', 'run_bdmc',
           'bdmc_at_points', 'bdmc_on_images', 'truncate_schedule',
           'default_bdmc_betas']



class SimulatedData(
    collections.namedtuple('SimulatedData', ['x', 'z', 'beta'])):
  """Data simulated from the model at inverse temperature `beta`.

  Attributes:
    x: [N, ...] data in the decoder's dtype, shaped like the decoder output
      (flat [N, E] for a decoder that returns mean and log-variance).
    z: [N, D] float64 latents that generated `x`; `z[i]` is an exact sample
      of q_β(z | x[i]).
    beta: the inverse temperature of the channel.
  """
  __slots__ = ()


class BDMCResult(
    collections.namedtuple(
        'BDMCResult',
        ['beta', 'lower', 'upper', 'gap', 'forward', 'reverse_log_weights',
         'reverse_accept_rate', 'num_transitions', 'num_decoder_gradients',
         'wall_time_s', 'simulated'])):
  """Forward and reverse AIS bounds on log Z_β(x) of simulated data.

  Attributes:
    beta: the inverse temperature β_k of the bounds.
    lower: [N] log Ẑ_fwd, the forward AIS estimate (eq. 14), a stochastic
      lower bound on log Z_β(x).
    upper: [N] log Ẑ_rev = -logmeanexp_i log w_rev^i, a stochastic upper
      bound.
    gap: [N] upper - lower, in nats.
    forward: the forward `tfrd.ais.AISRun` (its `estimates` hold R̂, D̂ and
      log Ẑ at every RD point of the schedule, the last one at `beta`).
    reverse_log_weights: [N, C] float64 log w_rev.
    reverse_accept_rate: mean HMC acceptance probability of the reverse run.
    num_transitions: n, transitions of each direction.
    num_decoder_gradients: decoder gradient evaluations per chain, all runs.
    wall_time_s: dict of wall times by phase ('preliminary', 'reported',
      'reverse').
    simulated: the `SimulatedData` the bounds are for.
  """
  __slots__ = ()

  @property
  def mean_lower(self):
    return float(np.mean(self.lower))

  @property
  def mean_upper(self):
    return float(np.mean(self.upper))

  @property
  def mean_gap(self):
    """The BDMC gap averaged over images, in nats (what Fig. 9 reports)."""
    return float(np.mean(self.gap))

  @property
  def max_gap(self):
    return float(np.max(self.gap))

  @property
  def gap_stderr_images(self):
    """Standard error of `mean_gap` from the spread of the N per-image gaps,
    or None for one image (a spread needs two).

    It has N - 1 degrees of freedom: with the 3 to 8 images of a check it is
    itself very noisy, and now and then far too small (three images whose
    gaps happen to agree).
    """
    if self.gap.size < 2:
      return None
    return float(np.std(self.gap, ddof=1) / math.sqrt(self.gap.size))

  @property
  def gap_stderr_chains(self):
    """Standard error of `mean_gap` from the chains' Monte Carlo noise, or
    None with one chain per image (its weights measure no spread).

    An image's gap is upper - lower, two log-mean-exps of C weights each;
    by the delta method Var(log Ẑ) ≈ Var(w) / (C E[w]²) ≈ 1/ESS - 1/C,
    with ESS = (Σw)²/Σw² the effective sample size of the image's weights
    (forward: `forward.estimates[-1]`; reverse: `reverse_log_weights`).
    This noise is most of the spread of the per-image gaps (the true gap
    is small next to it), and the 2·C weights of every image measure it
    far more steadily than the spread of N gaps does.
    """
    num_images, num_chains = self.reverse_log_weights.shape
    if num_chains < 2:
      return None
    log_weights = self.reverse_log_weights - np.max(
        self.reverse_log_weights, axis=1, keepdims=True)
    weights = np.exp(log_weights)
    ess_reverse = np.sum(weights, 1)**2 / np.sum(weights**2, 1)
    ess_forward = np.asarray(
        self.forward.estimates[-1].effective_sample_size, np.float64)
    variance = (np.maximum(1.0 / ess_forward - 1.0 / num_chains, 0.0) +
                np.maximum(1.0 / ess_reverse - 1.0 / num_chains, 0.0))
    return float(math.sqrt(np.sum(variance)) / num_images)

  @property
  def gap_stderr(self):
    """Standard error of `mean_gap`: the larger of `gap_stderr_images` and
    `gap_stderr_chains`, so that a few images whose gaps agree by chance
    do not make a mean gap look more precise than the chains allow; None
    when neither exists (one image, one chain)."""
    known = [value for value in (self.gap_stderr_images,
                                 self.gap_stderr_chains) if value is not None]
    return max(known) if known else None


def _decode(decoder, latents, decoder_dtype):
  outputs = decoders_lib.call_in_inference_mode(decoder, latents)
  return tf.cast(tf.convert_to_tensor(outputs), decoder_dtype)


def _per_image_draws(sample, seed, image_indices, trace=False):
  """sample(key) for every image's stateless key, stacked [N, ...].

  With `trace`, `sample` is traced once for batches of 8 images or more:
  eager TFP sampling costs ~60 ms a call, a traced one ~2 ms (plain
  stateless TF ops are cheap eagerly). The numbers are the same either way.
  """
  if trace and len(image_indices) >= 8:
    sample = tf.function(sample)
  return tf.stack([sample(randomness.int32_seed(seed, index))
                   for index in image_indices])


def _check_channel(distortion, beta):
  """Raises ValueError unless exp(-β d(x, f(z))) normalizes to a channel
  whose normalizer does not depend on z (see the module docstring)."""
  if not (math.isfinite(beta) and beta > 0):
    raise ValueError(f'Data can be simulated only at a positive, finite '
                     f'beta, got {beta!r}.')
  if isinstance(distortion, distortions_lib.SquaredError):
    return
  if isinstance(distortion, distortions_lib.GaussianNLL):
    if not distortion.learned_variance or beta == 1.0:
      return
    raise ValueError(
        f'GaussianNLL(scale=\'decoder\') defines a channel whose normalizer '
        f'does not depend on z only at beta = 1 (its likelihood); at beta = '
        f'{beta:g} the normalizer ∏ (2πσ²(z))^((1-β)/2) varies with z, so '
        f'the generating latent would not be an exact sample of q_β(z|x).')
  if isinstance(distortion, distortions_lib.BernoulliNLL):
    if beta == 1.0:
      return
    raise ValueError(
        f'BernoulliNLL defines a normalized channel only at beta = 1 (the '
        f'Bernoulli likelihood); at beta = {beta:g} the normalizer '
        f'∏ (p^β + (1-p)^β) depends on z, so the generating latent would not '
        f'be an exact sample of q_β(z|x). Use beta = 1.')
  raise ValueError(
      f'{type(distortion).__name__} does not define a channel '
      f'exp(-β d(x, f(z))) that can be sampled exactly; BDMC needs squared '
      f'error or Gaussian NLL (any beta), or Bernoulli NLL (beta = 1).')


def simulate_data(decoder, distortion, beta, num_images, latent_dim=None,
                  seed=0, prior=None, image_indices=None,
                  decoder_dtype=tf.float32):
  """Draws z ~ p(z) and x from the channel exp(-β d(x, f(z))), normalized.

  The channels (all normalized over x with a normalizer independent of z, so
  z is an exact sample of q_β(z|x), eq. 10):

  - squared error, any β: x ~ N(f(z), I/(2β));
  - Gaussian NLL with scale σ, any β: x ~ N(f(z), σ²I/β) (at β = 1 the
    model's own likelihood);
  - Gaussian NLL with the decoder's variance, β = 1: x ~ N(μ(z), σ²(z));
  - Bernoulli NLL, β = 1: x ~ Bernoulli(f(z)) (probabilities clipped as the
    distortion clips them, or sigmoid of logits).

  Randomness is stateless and per image: image i (global index
  `image_indices[i]`) gets the same (x, z) however many images are drawn.

  Args:
    decoder: callable latents [B, D] -> outputs [B, ...].
    distortion: a `tfrd.Distortion` or its name.
    beta: the inverse temperature β > 0.
    num_images: N.
    latent_dim: D, required when `prior` is None (standard normal prior).
    seed: integer seed.
    prior: TFP distribution with event shape [D].
    image_indices: int [N] global indices selecting each image's streams;
      0..N-1 by default.
    decoder_dtype: the decoder's dtype (and that of the returned x).

  Returns:
    A `SimulatedData`.

  Raises:
    ValueError: if the distortion has no exactly sampled channel at `beta`
      (e.g. Bernoulli NLL at β ≠ 1, SSIM, deep features), or for invalid
      arguments.
  """
  distortion = distortions_lib.get_distortion(distortion)
  beta = float(beta)
  _check_channel(distortion, beta)
  if int(num_images) != num_images or num_images < 1:
    raise ValueError(f'num_images must be a positive integer, got '
                     f'{num_images!r}.')
  num_images = int(num_images)
  if prior is None:
    if latent_dim is None:
      raise ValueError('Give latent_dim (or a prior).')
    prior = target_lib.standard_normal_prior(int(latent_dim))
  image_indices = randomness.check_image_indices(image_indices, num_images)
  decoder_dtype = tf.as_dtype(decoder_dtype)
  latent_seed = randomness.derive_seed(
      seed, randomness.SIMULATION_SEED_TAGS['latents'])
  noise_seed = randomness.derive_seed(
      seed, randomness.SIMULATION_SEED_TAGS['noise'])
  latents = tf.cast(_per_image_draws(
      lambda key: prior.sample(seed=key), latent_seed, image_indices,
      trace=True), tf.float64)
  outputs = _decode(decoder, tf.cast(latents, decoder_dtype), decoder_dtype)
  flat = tf.reshape(tf.cast(outputs, tf.float64), [num_images, -1])
  learned_variance = (isinstance(distortion, distortions_lib.GaussianNLL) and
                      distortion.learned_variance)
  if learned_variance:
    mean, log_variance = tf.split(flat, 2, axis=-1)
    flat, scale = mean, tf.exp(0.5 * log_variance)
  elif isinstance(distortion, distortions_lib.GaussianNLL):
    scale = distortion.scale / math.sqrt(beta)
  else:
    scale = 1.0 / math.sqrt(2.0 * beta)
  num_values = int(flat.shape[-1])

  if isinstance(distortion, distortions_lib.BernoulliNLL):
    if distortion.from_logits:
      probs = tf.sigmoid(flat)
    else:
      # The distortion clips probabilities; the channel must be the one whose
      # negative log-likelihood it computes.
      probs = tf.clip_by_value(flat, distortion.epsilon,
                               1.0 - distortion.epsilon)
    uniforms = _per_image_draws(
        lambda key: tf.random.stateless_uniform([num_values], seed=key,
                                                dtype=tf.float64),
        noise_seed, image_indices)
    values = tf.cast(uniforms < probs, tf.float64)
  else:
    noise = _per_image_draws(
        lambda key: tf.random.stateless_normal([num_values], seed=key,
                                               dtype=tf.float64),
        noise_seed, image_indices)
    values = flat + scale * noise
  shape = [num_images, -1] if learned_variance else tf.shape(outputs)
  x = tf.cast(tf.reshape(values, shape), decoder_dtype).numpy()
  return SimulatedData(x, latents.numpy(), beta)


def truncate_schedule(schedule, beta):
  """The part of `schedule` from 0 to `beta`, which must be one of its betas.

  RD points up to `beta` are kept and `beta` becomes the last one, so the
  forward run of `run_bdmc` on the truncated schedule is exactly the stretch of
  the full run that ends at `beta`.

  Args:
    schedule: an `AnnealingSchedule`.
    beta: one of `schedule.betas` (> 0).

  Returns:
    An `AnnealingSchedule`.

  Raises:
    ValueError: if `beta` is not in the schedule.
  """
  index = int(np.argmin(np.abs(schedule.betas - beta)))
  if index == 0 or not math.isclose(schedule.betas[index], beta, rel_tol=1e-12):
    raise ValueError(
        f'beta = {beta:g} is not one of the schedule\'s inverse temperatures; '
        f'build the schedule with it as an RD point (tfrd.build_schedule).')
  rd_indices = schedule.rd_indices[schedule.rd_indices < index]
  return schedules_lib.AnnealingSchedule(
      schedule.betas[:index + 1], np.append(rd_indices, index))


def _as_schedule(schedule_to_beta):
  if isinstance(schedule_to_beta, schedules_lib.AnnealingSchedule):
    return truncate_schedule(schedule_to_beta, schedule_to_beta.betas[-1])
  betas = np.asarray(schedule_to_beta, dtype=np.float64).reshape(-1)
  return schedules_lib.AnnealingSchedule(betas, [betas.size - 1])


def _reverse_chunks(forward_ends, num_transitions):
  """Splits reverse transitions i = 1..n into chunks for the compiled loop.

  Reverse transition i runs at β_{n-i} with the step sizes of forward
  transition max(n - i, 1) (the forward run never ran at β_0). A chunk may
  not cross a random block of the reverse run nor a change of forward chunk
  (whose step sizes are one row of the table).

  Returns:
    List of (first i, last i, forward chunk index).
  """
  steps = np.arange(1, num_transitions + 1)
  forward_index = np.maximum(num_transitions - steps, 1)
  forward_chunk = np.searchsorted(forward_ends, forward_index, side='left')
  chunks, first = [], 1
  for i in steps:
    last = (i == num_transitions or i % randomness.BLOCK_SIZE == 0 or
            forward_chunk[i] != forward_chunk[i - 1])
    if last:
      chunks.append((first, int(i), int(forward_chunk[i - 1])))
      first = int(i) + 1
  return chunks


def _reverse_course(schedule):
  """The `tfrd.ais.Course` of reverse AIS along `schedule`: β_n down to β_0
  in `_reverse_chunks`, each replaying its forward chunk's table rows; its
  one point, the end, is where its log-weights are checked."""
  num_transitions = schedule.num_transitions
  chunks = _reverse_chunks(ais.chunk_boundaries(schedule), num_transitions)
  return ais.Course(
      betas=np.asarray(schedule.betas, np.float64)[::-1],
      ends=np.array([last for _, last, _ in chunks], np.int64),
      forward_chunks=np.array([chunk for _, _, chunk in chunks], np.int64),
      points=np.array([num_transitions], np.int64), estimates=False)


def _log_mean_exp(values, axis):
  peak = np.max(values, axis=axis, keepdims=True)
  return (np.log(np.mean(np.exp(values - peak), axis=axis)) +
          np.squeeze(peak, axis=axis))


def run_bdmc(decoder, distortion, schedule_to_beta, simulated, prior=None,
             image_indices=None, chains=None, control=None):
  """Sandwiches log Z_β(x) of simulated data between forward and reverse AIS.

  Forward AIS (`tfrd.run_ais`) from the prior along the schedule gives the
  lower bound log Ẑ_fwd at its last inverse temperature β_n. Reverse AIS
  starts all C chains of image i at `simulated.z[i]`, an exact sample of
  q_{β_n}(z|x_i), runs the schedule backwards to β_0 = 0 with log-weight
  update log w += (β_j - β_{j-1}) d(x, f(z)) before each transition at
  β_{j-1}, so that E[w_rev] = 1/Z_{β_n}; log Ẑ_rev = -logmeanexp(log w_rev)
  is the upper bound (Grosse et al., 2015; paper §2.1, appendix D.3.2).

  Both directions make n transitions (the reverse run's last one, at
  β_0 = 0, leaves the weights unchanged), so the reverse run costs what the
  forward reported pass costs.

  Step sizes: the forward run chooses them as `run_ais` does
  (`chains.hmc.step_size_mode`; two-pass by default); the reverse run
  replays the forward run's per-chain step-size table, frozen and mirrored
  (the transition at β_j uses the step size forward used at β_j), and so
  its mass-matrix table (`chains.hmc.mass_matrix`). The
  reverse run never adapts: adaptation would break the Markov property its
  unbiasedness rests on. Its random numbers come from a seed tag of its own.
  It is one more pass of `tfrd.ais.PassLoop`, the loop of the forward run
  (see the module docstring).

  Args:
    decoder: callable latents [B, D] -> outputs [B, ...].
    distortion: a `tfrd.Distortion` or its name; the one `simulated` was
      drawn with.
    schedule_to_beta: an `AnnealingSchedule` or increasing betas from 0 to
      β_n = `simulated.beta`. With a schedule, forward estimates are recorded
      at its RD points too (`result.forward`).
    simulated: `SimulatedData` from `simulate_data` at β_n.
    prior: TFP prior with event shape [D]; standard normal if None.
    image_indices: global image indices selecting the random streams
      (0..N-1 by default).
    chains: a `tfrd.ChainSettings`; `ChainSettings()` if None. Its
      `num_chains` C run in each direction; its `seed` makes the result a
      deterministic function of it; its `hmc` settings are the forward
      run's (the reverse run uses their L and the forward run's step
      sizes); its `step_size_table`, for the forward schedule, is replayed
      in both directions; `jit_compile` and `decoder_dtype` apply to both.
    control: a `tfrd.RunControl`; `RunControl()` if None. Its `progress`
      receives `ProgressUpdate`s (phases 'preliminary', 'reported',
      'reverse'); once its `stop` is set, the run raises `RunInterrupted`
      at the end of the current chunk (BDMC keeps no checkpoints: it may
      have no `checkpoint_dir`, nor a `strategy`).

  Returns:
    A `BDMCResult`.

  Raises:
    ValueError: if the schedule does not end at `simulated.beta`, or for
      invalid arguments.
    tfrd.DecoderOutputError: for non-finite decoder outputs or weights.
    tfrd.RunInterrupted: `control.stop` was set.
  """
  distortion = distortions_lib.get_distortion(distortion)
  chains = settings_lib.ChainSettings() if chains is None else chains
  control = _check_control(control)
  hmc_settings, num_chains, seed = chains.hmc, chains.num_chains, chains.seed
  jit_compile = chains.jit_compile
  schedule = _as_schedule(schedule_to_beta)
  beta = float(schedule.betas[-1])
  if not math.isclose(beta, float(simulated.beta), rel_tol=1e-9):
    raise ValueError(
        f'The schedule ends at beta = {beta:g} but the data were simulated '
        f'at beta = {float(simulated.beta):g}; the generating latents are '
        f'exact samples of q_β(z|x) only at the simulation beta.')
  latents = np.asarray(simulated.z, dtype=np.float64)
  num_images, latent_dim = latents.shape
  if np.asarray(simulated.x).shape[0] != num_images:
    raise ValueError(f'simulated.x holds {np.asarray(simulated.x).shape[0]} '
                     f'images but simulated.z {num_images}.')
  if prior is None:
    prior = target_lib.standard_normal_prior(latent_dim)
  image_indices = randomness.check_image_indices(image_indices, num_images)

  forward = ais.run_ais(
      decoder, simulated.x, distortion, schedule, prior=prior,
      image_indices=image_indices, chains=chains, control=control)
  lower = np.asarray(forward.estimates[-1].log_z, dtype=np.float64)

  start = time.time()
  target = target_lib.AnnealedTarget(decoder, prior, distortion, simulated.x,
                                     num_chains, chains.decoder_dtype)
  if jit_compile == 'auto' and not forward.jit_compiled:
    jit_compile = False  # XLA already failed on this decoder: don't retry.
  # The reverse run replays frozen step sizes: only L matters here.
  runner = ais.TransitionRunner(target, hmc_settings, jit_compile)
  loop = ais.PassLoop(
      runner, schedule, prior, seed, image_indices, hmc_settings,
      step_size_table=np.asarray(forward.step_size_table, dtype=np.float64),
      course=_reverse_course(schedule),
      mass_matrix_table=forward.mass_matrix_table)
  state = ais.RunState(num_images * num_chains, num_images, latent_dim,
                       loop.segments, num_points=1, num_passes=1)
  accept_total = loop.run_pass(
      0, passes_lib.REVERSE_PASS, state, control.progress, control.stop,
      start=np.repeat(latents, num_chains, axis=0))
  log_weights = state.chain.log_weights.numpy().reshape(num_images,
                                                        num_chains)
  upper = -_log_mean_exp(log_weights, axis=1)
  num_transitions = schedule.num_transitions
  wall_time_s = dict(forward.wall_time_s)
  wall_time_s['reverse'] = time.time() - start
  return BDMCResult(
      beta=beta, lower=lower, upper=upper, gap=upper - lower, forward=forward,
      reverse_log_weights=log_weights,
      reverse_accept_rate=accept_total / (num_images * num_chains *
                                          num_transitions),
      num_transitions=num_transitions,
      # The reverse pass costs what one frozen forward pass costs.
      num_decoder_gradients=(
          forward.num_decoder_gradients + passes_lib.decoder_gradients_per_chain(
              num_transitions, hmc_settings.num_leapfrog_steps, 'fixed')),
      wall_time_s=wall_time_s, simulated=simulated)


def _check_control(control):
  """`control` (`RunControl()` if None), refused if it asks for more than
  BDMC does."""
  control = settings_lib.RunControl() if control is None else control
  if control.checkpoint_dir is not None or control.strategy is not None:
    raise ValueError('BDMC runs keep no checkpoints and run in one process: '
                     'control.checkpoint_dir and control.strategy must be '
                     'None.')
  return control


def default_bdmc_betas(distortion, beta_min=1.0 / 12.0, beta_max=1000.0):
  """The points `bdmc_at_points` checks by default.

  A low-rate point (`beta_min`), β = 1 (the log-likelihood point of an NLL
  distortion) and the highest β, where the distortion allows simulating at
  every β; only β = 1 for Bernoulli NLL and decoder-variance Gaussian NLL.

  Raises:
    ValueError: if the distortion cannot be simulated at all.
  """
  distortion = distortions_lib.get_distortion(distortion)
  _check_channel(distortion, 1.0)
  try:
    _check_channel(distortion, 2.0)
  except ValueError:
    return [1.0]
  return sorted({float(beta_min), 1.0, float(beta_max)})


def bdmc_at_points(decoder, distortion, rd_betas=None, num_images=10,
                   latent_dim=None, prior=None, schedule=None,
                   num_intermediate=5000, chains=None, control=None):
  """BDMC gaps at chosen points of the curve, each on data simulated there.

  For every β in `rd_betas` this simulates `num_images` images at β
  (`simulate_data`) and runs `run_bdmc` along `schedule` truncated at β: the
  same stretch of temperatures a full curve run would take to reach β, so
  the gap measures how tight that run's point is (appendix D.3.2).

  Args:
    decoder: callable latents [B, D] -> outputs [B, ...].
    distortion: a `tfrd.Distortion` or its name.
    rd_betas: increasing inverse temperatures; `default_bdmc_betas` if None
      (a low-rate point, β = 1 and the highest β of `schedule`, or 1000).
    num_images: images simulated at each point.
    latent_dim: D, required without `prior`.
    prior: TFP prior with event shape [D].
    schedule: an `AnnealingSchedule` holding every β of `rd_betas` exactly
      (e.g. the curve's schedule with them as RD points); if None, a
      geometric schedule of `num_intermediate` distributions up to the
      largest point, with appendix D.2's fills.
    num_intermediate: size of the default schedule's geometric base.
    chains: a `tfrd.ChainSettings` for every point's `run_bdmc`;
      `ChainSettings()` if None. Its `num_chains` C run per image in each
      direction; each point derives its simulation and AIS seeds from its
      `seed` and its β (not its position in `rd_betas`); its
      `decoder_dtype` is also the simulated data's. It may not hold a
      `step_size_table` (each point runs its own schedule).
    control: a `tfrd.RunControl` for every point's `run_bdmc`; its
      `progress` receives `ProgressUpdate`s whose phase names the point
      ('point 2/3 reverse'), its `stop` interrupts the run (`RunInterrupted`).
      No `checkpoint_dir` nor `strategy`.

  Returns:
    A list of `BDMCResult`s, one per β, in increasing β.

  Raises:
    ValueError: for points the schedule lacks or the distortion cannot
      simulate, or invalid arguments.
    tfrd.RunInterrupted: `control.stop` was set.
  """
  distortion = distortions_lib.get_distortion(distortion)
  if prior is None:
    if latent_dim is None:
      raise ValueError('Give latent_dim (or a prior).')
    prior = target_lib.standard_normal_prior(int(latent_dim))
  if rd_betas is None:
    rd_betas = default_bdmc_betas(
        distortion, beta_max=(1000.0 if schedule is None
                              else float(schedule.betas[-1])))
  rd_betas = _check_points(distortion, rd_betas)
  if schedule is None:
    beta_max = float(rd_betas[-1])
    beta_min = min(float(rd_betas[0]), 1.0 / 12.0, beta_max / 2)
    schedule = schedules_lib.build_schedule(
        rd_betas, schedules_lib.geometric_betas(num_intermediate, beta_max,
                                                beta_min),
        min_before_first=max(num_intermediate // 5, 1), min_between=10)
  if isinstance(num_images, bool) or int(num_images) != num_images or (
      num_images < 1):
    raise ValueError(f'num_images must be a positive integer, got '
                     f'{num_images!r}.')
  return bdmc_on_images(decoder, distortion, rd_betas,
                        np.arange(int(num_images)), prior, schedule, chains,
                        control)


def _check_points(distortion, rd_betas):
  """`rd_betas` as a float64 array, refused before any work unless
  positive, finite, strictly increasing and simulable."""
  rd_betas = np.asarray(rd_betas, dtype=np.float64).reshape(-1)
  if (rd_betas.size == 0 or not np.all(np.isfinite(rd_betas)) or
      np.any(rd_betas <= 0) or np.any(np.diff(rd_betas) <= 0)):
    raise ValueError(f'BDMC points must be positive, finite and strictly '
                     f'increasing, got {rd_betas.tolist()}.')
  for beta in rd_betas:
    _check_channel(distortion, float(beta))
  return rd_betas


def bdmc_on_images(decoder, distortion, rd_betas, image_indices, prior,
                   schedule, chains=None, control=None):
  """`bdmc_at_points` on chosen simulated images: those of global indices
  `image_indices` (each image's data and chains come from its index's
  stateless streams, so indices beyond those of an earlier measurement
  give fresh images of the same model, β and seeds).

  Args:
    decoder: callable latents [B, D] -> outputs [B, ...].
    distortion: a `tfrd.Distortion` or its name.
    rd_betas: increasing inverse temperatures.
    image_indices: int [N] global indices of the simulated images.
    prior: TFP prior with event shape [D].
    schedule: an `AnnealingSchedule` holding every β of `rd_betas`.
    chains: as for `bdmc_at_points`.
    control: as for `bdmc_at_points`.

  Returns:
    A list of `BDMCResult`s, one per β, in increasing β.

  Raises:
    As `bdmc_at_points`.
  """
  distortion = distortions_lib.get_distortion(distortion)
  chains = settings_lib.ChainSettings() if chains is None else chains
  control = _check_control(control)
  progress = control.progress
  if chains.step_size_table is not None:
    raise ValueError('bdmc_at_points runs a schedule of its own at every '
                     'point: chains.step_size_table must be None.')
  seed = chains.seed
  rd_betas = _check_points(distortion, rd_betas)
  image_indices = np.asarray(image_indices).reshape(-1)
  image_indices = randomness.check_image_indices(image_indices,
                                                 image_indices.size)
  truncated = [truncate_schedule(schedule, float(beta)) for beta in rd_betas]
  results = []
  for point, (beta, point_schedule) in enumerate(zip(rd_betas, truncated)):
    # Seeds from (seed, β), not the point's position (`point_seed`): runs
    # with different settings compare on the same images.
    simulated = simulate_data(
        decoder, distortion, float(beta), image_indices.size,
        seed=randomness.point_seed(seed, 'simulation', beta),
        prior=prior, image_indices=image_indices,
        decoder_dtype=chains.decoder_dtype)
    point_progress = None
    if progress is not None:
      label = f'point {point + 1}/{rd_betas.size}'
      point_progress = (lambda update, label=label: progress(
          update._replace(phase=f'{label} {update.phase}')))
    point_chains = chains._replace(
        seed=randomness.point_seed(seed, 'ais', beta))
    results.append(run_bdmc(decoder, distortion, point_schedule, simulated,
                            prior=prior, image_indices=image_indices,
                            chains=point_chains,
                            control=control._replace(progress=point_progress)))
  return results
