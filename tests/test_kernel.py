"""tfrd.kernel.AnnealedHMC: TFP's kernel protocol around tfrd's HMC transition.

Oracles: the exact Gaussian posterior q_β(z|x) of a linear decoder with
squared error (precision I + 2β·A·Aᵀ, mean P⁻¹·2β·A(x - b); tfrd/linear.py),
and `tfp.mcmc.HamiltonianMonteCarlo` on the same target. Monte Carlo standard
errors come from many independent chains: each chain's time average of a
moment is one independent draw of that estimate, so their spread across
chains is an honest standard error whatever the autocorrelation.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfrd
from tfrd import kernel as kernel_lib
from tfrd import randomness
from tfrd.kernel import AnnealedHMC
from tfrd.kernel import AnnealedHMCResults

LATENT_DIM, DATA_DIM = 2, 6
BETA = 2.0
NUM_LEAPFROG_STEPS = 5
# Per-chain step sizes are drawn around STEP_SIZE (see `_step_sizes`).
STEP_SIZE = 0.15
# Largest |estimate - truth| / standard error tolerated over all the moments
# of one check (a dozen z-scores: a false alarm has probability ~1e-4).
Z_TOLERANCE = 4.5


class LinearGaussianProblem:
  """x̂ = zA + b in float64, squared error: q_β(z|x) is exactly Gaussian."""

  def __init__(self, num_images, seed=0):
    # One decoder for all tests: at β = 2 the posterior precision has
    # eigenvalues 1.86 and 6.09, which the step sizes below are made for.
    rng = np.random.default_rng(0)
    self.kernel = rng.normal(size=(LATENT_DIM, DATA_DIM)) * 0.5
    self.bias = rng.uniform(0.2, 0.6, size=DATA_DIM)
    rng = np.random.default_rng([seed, 1])
    self.data = (rng.normal(size=(num_images, LATENT_DIM)) @ self.kernel +
                 self.bias + 0.1 * rng.normal(size=(num_images, DATA_DIM)))

  def decoder(self, z):
    return tf.matmul(z, tf.constant(self.kernel)) + tf.constant(self.bias)

  def target(self, num_chains, images=None):
    data = self.data if images is None else self.data[list(images)]
    return tfrd.AnnealedTarget(self.decoder,
                               tfrd.standard_normal_prior(LATENT_DIM),
                               tfrd.SquaredError(), data, num_chains,
                               decoder_dtype=tf.float64)

  def posterior(self, beta):
    """Exact mean [N, D] and covariance [D, D] of q_β(z|x)."""
    precision = (np.eye(LATENT_DIM) +
                 2.0 * beta * self.kernel @ self.kernel.T)
    covariance = np.linalg.inv(precision)
    mean = (covariance @ (2.0 * beta * self.kernel @
                          (self.data - self.bias).T)).T
    return mean, covariance


def _prior_draws(num_rows, seed):
  return tf.constant(np.random.default_rng(seed).normal(
      size=(num_rows, LATENT_DIM)))


def _adapted_chain(kernel, num_results, seed, chain_seed):
  """(step sizes, acceptance probabilities) of each step of a
  `sample_chain` run of a step-size-adapting `kernel` from 100 prior draws
  (`_prior_draws(100, seed)`)."""

  @tf.function
  def run():
    return tfp.mcmc.sample_chain(
        num_results, _prior_draws(100, seed=seed), kernel=kernel,
        seed=chain_seed, trace_fn=lambda _, results: (
            results.inner_results.step_size,
            tf.exp(tf.minimum(results.inner_results.log_accept_ratio, 0.0))))

  _, traced = run()
  return traced


def _step_sizes(num_rows, seed, scale=STEP_SIZE, spread=0.3):
  """Per-chain step sizes, uniform in scale·[1 - spread, 1 + spread].

  On a Gaussian, leapfrog rotates each eigendirection (frequency ω) by θ with
  cos θ = 1 - (εω)²/2 per step; a chain whose L·θ is near a multiple of π
  barely decorrelates (z ↦ ±z). The defaults keep L·θ within (1.2, 2.6) in
  the stiff (ω = 2.47 at β = 2) and (0.7, 1.4) in the soft direction (ω =
  1.36), and varying ε spreads the trajectories across chains.
  """
  return scale * np.random.default_rng(seed).uniform(1 - spread, 1 + spread,
                                                     size=num_rows)


def _sample(kernel, init, num_results, num_burnin_steps, seed):
  """Draws [T, B, D] and acceptance probabilities [T, B] from sample_chain."""

  @tf.function
  def run():
    return tfp.mcmc.sample_chain(
        num_results, init, kernel=kernel, num_burnin_steps=num_burnin_steps,
        trace_fn=lambda _, results: tf.exp(
            tf.minimum(results.log_accept_ratio, 0.0)),
        seed=tf.constant(seed, tf.int32))

  samples, accept_prob = run()
  return samples.numpy(), accept_prob.numpy()


def _chain_moments(samples, num_images, center):
  """Per-chain time averages of z and of (z - c)(z - c)ᵀ.

  Args:
    samples: [T, N·C, D] draws, image-major rows.
    num_images: N.
    center: [N, D] fixed centres of the second moments.

  Returns:
    (first [N, C, D], second [N, C, D, D]).
  """
  num_steps = samples.shape[0]
  samples = samples.reshape(num_steps, num_images, -1, LATENT_DIM)
  deviation = samples - center[None, :, None, :]
  first = samples.mean(axis=0)
  second = np.einsum('tncd,tnce->ncde', deviation, deviation) / num_steps
  return first, second


def _estimate(per_chain):
  """Mean over the chain axis (1) and its standard error."""
  num_chains = per_chain.shape[1]
  return (per_chain.mean(axis=1),
          per_chain.std(axis=1, ddof=1) / np.sqrt(num_chains))


def _max_z_against_exact(samples, mean, covariance):
  """Largest z-score of the chains' mean and covariance against the truth."""
  first, second = _chain_moments(samples, mean.shape[0], mean)
  mean_estimate, mean_se = _estimate(first)
  cov_estimate, cov_se = _estimate(second)
  z_mean = np.abs(mean_estimate - mean) / mean_se
  z_cov = np.abs(cov_estimate - covariance[None]) / cov_se
  return max(z_mean.max(), z_cov.max()), cov_se


def test_sample_chain_matches_the_exact_gaussian_posterior():
  problem = LinearGaussianProblem(num_images=2)
  num_chains = 400
  target = problem.target(num_chains)
  init = _prior_draws(2 * num_chains, seed=1)
  mean, covariance = problem.posterior(BETA)

  step_size = _step_sizes(2 * num_chains, seed=1)
  kernel = AnnealedHMC(target, BETA, step_size, NUM_LEAPFROG_STEPS)
  samples, accept_prob = _sample(kernel, init, 150, 100, seed=[4, 2])
  max_z, cov_se = _max_z_against_exact(samples, mean, covariance)
  assert max_z < Z_TOLERANCE
  # The check is sharp: a 4.5-SE band is a few percent of each variance.
  assert np.all(Z_TOLERANCE * np.diagonal(cov_se, axis1=-2, axis2=-1) <
                0.06 * np.diag(covariance))
  assert accept_prob.mean() > 0.9

  # Control: chains at a 30% larger β must fail the same check.
  wrong = AnnealedHMC(target, 1.3 * BETA, step_size, NUM_LEAPFROG_STEPS)
  wrong_samples, _ = _sample(wrong, init, 150, 100, seed=[4, 2])
  wrong_z, _ = _max_z_against_exact(wrong_samples, mean, covariance)
  assert wrong_z > 3 * Z_TOLERANCE


def test_plain_callable_target_draws_batch_noise_and_samples_correctly():
  # Without image structure the noise is drawn for the whole batch at once.
  precision = np.array([[3.0, 0.8], [0.8, 2.0]])
  covariance = np.linalg.inv(np.eye(2) + BETA * precision)

  def quadratic(z):  # d(z) = ½ zᵀAz: q_β = N(0, (I + βA)⁻¹).
    a = tf.constant(precision)
    return tfrd.TargetParts(
        prior_log_prob=-0.5 * tf.reduce_sum(z**2, -1),
        distortion=0.5 * tf.reduce_sum(z * tf.linalg.matvec(a, z), -1),
        grad_prior_log_prob=-z, grad_distortion=tf.linalg.matvec(a, z))

  kernel = AnnealedHMC(quadratic, BETA, _step_sizes(500, seed=2),
                       NUM_LEAPFROG_STEPS)
  assert kernel.image_indices is None
  init = _prior_draws(500, seed=2)
  samples, _ = _sample(kernel, init, 100, 50, seed=[1, 5])
  max_z, _ = _max_z_against_exact(samples, np.zeros([1, 2]), covariance)
  assert max_z < Z_TOLERANCE
  again, _ = _sample(kernel, init, 100, 50, seed=[1, 5])
  np.testing.assert_array_equal(samples, again)


def test_agrees_with_tfp_hamiltonian_monte_carlo():
  problem = LinearGaussianProblem(num_images=2, seed=3)
  num_chains = 400
  target = problem.target(num_chains)
  init = _prior_draws(2 * num_chains, seed=4)
  # Large steps, so that about 44% of the proposals are rejected: that rate
  # is what to compare. With L = 2 (a full leapfrog step in the loop) the
  # stiff direction turns by 2θ in (3.8, 5.0) and the soft one by 2θ in
  # (1.9, 2.2), away from multiples of π (see `_step_sizes`).
  num_leapfrog_steps = 2
  step_size = _step_sizes(2 * num_chains, seed=4, scale=0.715, spread=0.075)

  def target_log_prob(z):  # TFP differentiates this itself.
    return target.prior.log_prob(z) - BETA * target.distortion_of(z)

  tfp_kernel = tfp.mcmc.HamiltonianMonteCarlo(
      target_log_prob, tf.constant(step_size[:, None]), num_leapfrog_steps)
  ours = AnnealedHMC(target, BETA, step_size, num_leapfrog_steps)
  samples, accept = _sample(ours, init, 150, 50, seed=[8, 1])
  tfp_samples, tfp_accept = _sample(tfp_kernel, init, 150, 50, seed=[8, 2])

  # Chain c of both runs has the same start and step size, and the pairs are
  # independent across c: the per-chain differences of each statistic are
  # i.i.d., so their mean and its standard error give a paired two-sample
  # test (sharper than comparing two unpaired means, since the step size
  # drives much of each chain's acceptance rate).
  center = problem.posterior(BETA)[0]
  ours_stats = _chain_moments(samples, 2, center) + (
      accept.mean(axis=0).reshape(2, num_chains),)
  tfp_stats = _chain_moments(tfp_samples, 2, center) + (
      tfp_accept.mean(axis=0).reshape(2, num_chains),)
  for ours_stat, tfp_stat in zip(ours_stats, tfp_stats):
    difference, standard_error = _estimate(ours_stat - tfp_stat)
    assert np.max(np.abs(difference) / standard_error) < Z_TOLERANCE
  accept_rate = ours_stats[-1].mean()
  assert 0.4 < accept_rate < 0.75  # many rejections: the rate is informative
  # Sharp: 4.5 SE of the acceptance-rate difference is under 0.015.
  assert np.all(Z_TOLERANCE * _estimate(ours_stats[-1] - tfp_stats[-1])[1] <
                0.015)


def test_an_images_draws_do_not_depend_on_its_batch():
  problem = LinearGaussianProblem(num_images=3, seed=5)
  num_chains = 4
  init = _prior_draws(3 * num_chains, seed=6).numpy().reshape(
      3, num_chains, LATENT_DIM)

  def run(images):
    kernel = AnnealedHMC(problem.target(num_chains, images), BETA, STEP_SIZE,
                         NUM_LEAPFROG_STEPS, image_indices=images)
    samples, _ = _sample(kernel, init[list(images)].reshape(-1, LATENT_DIM),
                         6, 0, seed=[7, 11])
    return samples.reshape(6, len(images), num_chains, LATENT_DIM)

  batch = run([0, 1, 2])
  reordered = run([2, 0])
  alone = run([1])
  np.testing.assert_allclose(reordered[:, 0], batch[:, 2], rtol=1e-12)
  np.testing.assert_allclose(reordered[:, 1], batch[:, 0], rtol=1e-12)
  np.testing.assert_allclose(alone[:, 0], batch[:, 1], rtol=1e-12)
  # The chains moved, so equal draws mean equal noise, not stuck chains.
  assert np.all(np.abs(batch[-1] - init) > 0)


def test_images_and_seeds_get_their_own_noise():
  problem = LinearGaussianProblem(num_images=1, seed=7)
  same_image_twice = np.concatenate([problem.data] * 2)
  target = tfrd.AnnealedTarget(problem.decoder,
                               tfrd.standard_normal_prior(LATENT_DIM),
                               tfrd.SquaredError(), same_image_twice, 3,
                               decoder_dtype=tf.float64)
  init = np.tile(_prior_draws(3, seed=8).numpy(), [2, 1])
  kernel = AnnealedHMC(target, BETA, STEP_SIZE, NUM_LEAPFROG_STEPS,
                       image_indices=[10, 11])
  samples, _ = _sample(kernel, init, 3, 0, seed=[1, 2])
  other_seed, _ = _sample(kernel, init, 3, 0, seed=[1, 3])
  assert not np.allclose(samples[:, :3], samples[:, 3:])  # other image
  assert not np.allclose(samples, other_seed)

  # The documented derivation: tfrd's counter-based generator with the
  # kernel's keys, at the position whose bits are the seed's two words.
  for seed, position in [([5, 6], (5 << 32) | 6),
                         ([-1, 7], -(1 << 32) | 7),  # bit pattern 0xffffffff…
                         ([3, -2], (3 << 32) | 0xFFFFFFFE)]:
    # pylint: disable-next=protected-access
    momentum, log_uniform = kernel._draw_noise(tf.constant(seed, tf.int32),
                                               tf.constant(init))
    expected_momentum, expected_log_uniform = randomness.transition_noise(
        kernel_lib.KERNEL_NOISE_KEYS, np.array([10, 11]),
        tf.constant(position, tf.int64), 3, LATENT_DIM)
    np.testing.assert_array_equal(
        momentum, tf.reshape(expected_momentum, [6, LATENT_DIM]))
    np.testing.assert_array_equal(log_uniform,
                                  tf.reshape(expected_log_uniform, [6]))


def _noise(images, seed, num_chains=3, jit_compile=None):
  """The kernel's momenta [N, C, D] and log-uniforms [N, C] for `images`."""
  problem = LinearGaussianProblem(num_images=len(images), seed=12)
  kernel = AnnealedHMC(problem.target(num_chains), BETA, STEP_SIZE,
                       NUM_LEAPFROG_STEPS, image_indices=images)
  state = tf.zeros([len(images) * num_chains, LATENT_DIM], tf.float64)
  # pylint: disable-next=protected-access
  draw = kernel._draw_noise
  if jit_compile is not None:
    draw = tf.function(draw, jit_compile=jit_compile)
  momentum, log_uniform = draw(tf.constant(seed, tf.int32), state)
  return (momentum.numpy().reshape(len(images), num_chains, LATENT_DIM),
          log_uniform.numpy().reshape(len(images), num_chains))


def test_an_images_noise_is_a_function_of_seed_and_index_only():
  batch = _noise([4, 9, 2], seed=[3, 1])
  # Each other batch's images, and the row of `batch` they are (-1: none).
  for images, rows in [([2, 4], [2, 0]), ([9], [1]),
                       ([7, 9, 5, 4], [-1, 1, -1, 0])]:
    momentum, log_uniform = _noise(images, seed=[3, 1])
    for position, row in enumerate(rows):
      if row >= 0:
        np.testing.assert_array_equal(momentum[position], batch[0][row])
        np.testing.assert_array_equal(log_uniform[position], batch[1][row])
  # Other images, chains and seeds get other numbers.
  momentum, log_uniform = batch
  assert len(np.unique(momentum)) == momentum.size
  assert len(np.unique(log_uniform)) == log_uniform.size
  other_seed = _noise([4, 9, 2], seed=[3, 2])
  assert not np.any(other_seed[0] == momentum)
  assert np.all(log_uniform <= 0)


@pytest.mark.parametrize('jit_compile', [False, True])
def test_noise_is_deterministic_eagerly_in_graph_mode_and_under_xla(
    jit_compile):
  eager = _noise([0, 5], seed=[8, -3])
  np.testing.assert_array_equal(eager[0], _noise([0, 5], seed=[8, -3])[0])
  compiled = _noise([0, 5], seed=[8, -3], jit_compile=jit_compile)
  for eager_part, compiled_part in zip(eager, compiled):
    np.testing.assert_array_equal(compiled_part, eager_part)


def _graph_ops(function, *args):
  graph = tf.function(function).get_concrete_function(*args).graph
  return graph.get_operations()


def _loops(operations):
  return [op for op in operations
          if op.type in ('While', 'StatelessWhile') or 'map' in op.name]


def test_one_step_draws_all_images_at_once():
  """No loop over images: the graph is the same size for 1 and 5 images."""
  sizes, loops = {}, {}
  for num_images in (1, 5):
    problem = LinearGaussianProblem(num_images=num_images)
    target = problem.target(num_chains=2)
    state = _prior_draws(2 * num_images, seed=13)
    for per_image in (True, False):
      kernel = AnnealedHMC(target if per_image else target.__call__, BETA,
                           STEP_SIZE, NUM_LEAPFROG_STEPS)
      assert (kernel.image_indices is not None) == per_image
      results = kernel.bootstrap_results(state)
      seed = tf.constant([1, 2], tf.int32)
      step_ops = _graph_ops(kernel.one_step, state, results, seed)
      loops[num_images, per_image] = [op.name for op in _loops(step_ops)]
      # pylint: disable-next=protected-access
      noise_ops = _graph_ops(kernel._draw_noise, seed, state)
      assert not _loops(noise_ops)
      sizes[num_images, per_image] = len(noise_ops)
  # The only loop in one_step is the leapfrog's, as without image structure.
  assert len(loops[5, True]) == 1, loops
  assert loops[5, True] == loops[5, False] == loops[1, True]
  assert sizes[1, True] == sizes[5, True]


@pytest.mark.parametrize('chains_known', [True, False])
def test_noise_with_unknown_static_shapes(chains_known):
  problem = LinearGaussianProblem(num_images=2)
  target = problem.target(num_chains=3)
  # A plain callable with image_indices: C comes from the state's rows.
  kernel = AnnealedHMC(target if chains_known else target.__call__, BETA,
                       STEP_SIZE, NUM_LEAPFROG_STEPS, image_indices=[0, 1])
  assert (kernel.num_chains is not None) == chains_known
  # pylint: disable-next=protected-access
  draw = tf.function(kernel._draw_noise, input_signature=[
      tf.TensorSpec([2], tf.int32), tf.TensorSpec([None, None], tf.float64)])
  seed = tf.constant([4, 4], tf.int32)
  state = tf.zeros([6, LATENT_DIM], tf.float64)
  # pylint: disable-next=protected-access
  for dynamic, static in zip(draw(seed, state), kernel._draw_noise(seed,
                                                                    state)):
    np.testing.assert_array_equal(dynamic, static)


@pytest.mark.parametrize('per_image', [True, False])
@pytest.mark.parametrize('num_leapfrog_steps', [1, 3])
def test_one_step_costs_exactly_l_target_evaluations(per_image,
                                                     num_leapfrog_steps):
  target, counting_target, calls = _counting_target()

  kernel = AnnealedHMC(counting_target, BETA, STEP_SIZE, num_leapfrog_steps,
                       image_indices=[0, 1] if per_image else None)
  state = _prior_draws(6, seed=9)
  results = kernel.bootstrap_results(state)
  assert len(calls) == 1
  for step in range(3):
    del calls[:]
    # Eagerly the leapfrog's while_loop runs its body once per step.
    state, results = kernel.one_step(state, results, seed=[step, 1])
    assert len(calls) == num_leapfrog_steps
  # The cache the results carry is the target at the new state.
  np.testing.assert_allclose(results.target_parts.distortion,
                             target(state).distortion, rtol=1e-12)


def test_kernel_protocol():
  problem = LinearGaussianProblem(num_images=2)
  target = problem.target(num_chains=3)
  kernel = AnnealedHMC(target, BETA, np.full(6, 0.2), NUM_LEAPFROG_STEPS)
  assert isinstance(kernel, tfp.mcmc.TransitionKernel)
  assert kernel.is_calibrated
  np.testing.assert_array_equal(kernel.image_indices, [0, 1])
  assert kernel.num_chains == 3
  state = _prior_draws(6, seed=10)
  results = kernel.bootstrap_results(state)
  assert isinstance(results, AnnealedHMCResults)
  assert isinstance(results.target_parts, tfrd.TargetParts)
  np.testing.assert_allclose(results.target_parts.distortion,
                             target(state).distortion)
  assert results.step_size.dtype == tf.float64
  assert results.step_size.shape == (6,)
  np.testing.assert_array_equal(results.is_accepted, True)
  np.testing.assert_array_equal(results.log_accept_ratio, 0.0)
  new_state, new_results = kernel.one_step(state, results, seed=[0, 1])
  assert new_state.dtype == tf.float64 and new_state.shape == (6, LATENT_DIM)
  assert isinstance(new_results, AnnealedHMCResults)
  assert kernel.copy(beta=3.0).beta == 3.0

  with pytest.raises(TypeError, match='float64'):
    kernel.bootstrap_results(tf.cast(state, tf.float32))
  with pytest.raises(ValueError, match='rows'):
    kernel.one_step(state[:5], results, seed=[0, 1])
  with pytest.raises(ValueError, match='num_leapfrog_steps'):
    AnnealedHMC(target, BETA, 0.1, 0)
  with pytest.raises(ValueError, match='step_size'):
    AnnealedHMC(target, BETA, -0.1, 2)
  with pytest.raises(ValueError, match='image_indices'):
    AnnealedHMC(target, BETA, 0.1, 2, image_indices=[0, 1, 2])


def test_step_size_adapts_through_tfp_simple_step_size_adaptation():
  problem = LinearGaussianProblem(num_images=2)
  target = problem.target(num_chains=50)
  kernel = tfp.mcmc.SimpleStepSizeAdaptation(
      AnnealedHMC(target, 20.0, 1.0, NUM_LEAPFROG_STEPS),
      num_adaptation_steps=80, target_accept_prob=0.75, adaptation_rate=0.05)

  step_size, accept_prob = _adapted_chain(kernel, 100, seed=11,
                                          chain_seed=[2, 3])
  # Step 1.0 is far too large at β = 20 (nothing is accepted); adaptation
  # shrinks it until about 75% of the proposals are accepted.
  assert np.mean(accept_prob[:5]) < 0.05
  assert step_size[-1] < 0.4
  assert 0.6 < np.mean(accept_prob[-20:]) < 0.9


# --- The kernels of tfrd's own AIS loop: given noise, cache, mass matrix,
# --- and StepSizeAdaptation.


def _given_noise(num_rows, seed):
  rng = np.random.default_rng(seed)
  return (tf.constant(rng.normal(size=(num_rows, LATENT_DIM))),
          tf.constant(np.log(rng.uniform(size=num_rows))))


def _counting_target():
  """(target, the same target counting its calls in `calls`, calls): 2
  images of the linear Gaussian problem, 3 chains each."""
  target = LinearGaussianProblem(num_images=2).target(num_chains=3)
  calls = []

  def counting_target(z):
    calls.append(1)
    return target(z)

  return target, counting_target, calls


def test_given_noise_and_cache_make_hmc_transition():
  target, counting_target, calls = _counting_target()

  state = _prior_draws(6, seed=14)
  parts = target(state)
  noise = _given_noise(6, seed=14)
  step_size = tf.constant(_step_sizes(6, seed=14))
  rotation = np.linalg.qr(np.random.default_rng(14).normal(size=(2, 2)))[0]
  metric = (tf.constant(np.stack([rotation, rotation.T])),
            tf.constant([[0.5, 2.0], [1.0, 0.0]], tf.float64))
  for given_metric in (None, metric):
    kernel = AnnealedHMC(counting_target, tf.constant(BETA, tf.float64),
                         step_size, NUM_LEAPFROG_STEPS, image_indices=[0, 1],
                         metric=given_metric, noise=noise)
    assert kernel.noise is noise and kernel.metric is given_metric
    del calls[:]
    results = kernel.bootstrap_results(state, target_parts=parts)
    assert not calls  # the given cache: no target evaluation
    assert results.target_parts is parts
    # The seed is not used (no stateful seed is drawn without one either).
    new_state, new_results = kernel.one_step(state, results)
    assert len(calls) == NUM_LEAPFROG_STEPS
    expected = tfrd.hmc_transition(target, tf.constant(BETA, tf.float64),
                                   state, parts, noise[0], noise[1],
                                   step_size, NUM_LEAPFROG_STEPS,
                                   given_metric)
    np.testing.assert_array_equal(new_state, expected.state)
    np.testing.assert_array_equal(new_results.log_accept_ratio,
                                  expected.log_accept_ratio)
    for ours, theirs in zip(new_results.target_parts, expected.parts):
      np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(new_results.step_size, step_size)
    again, _ = kernel.one_step(state, results, seed=[9, 9])
    np.testing.assert_array_equal(again, new_state)


@pytest.mark.parametrize('shape', ['per_chain', 'shared', 'scalar'])
def test_step_size_adaptation_applies_tfrd_rule(shape):
  target, counting_target, calls = _counting_target()

  state = _prior_draws(6, seed=15)
  step_size = (tf.constant(0.5, tf.float64) if shape == 'scalar'
               else tf.constant(_step_sizes(6, seed=15, scale=0.5)))
  inner = AnnealedHMC(counting_target, BETA, step_size, NUM_LEAPFROG_STEPS,
                      image_indices=[0, 1], num_chains=3)
  kernel = kernel_lib.StepSizeAdaptation(
      inner, target_accept_prob=0.7, adaptation_rate=0.1,
      shared_step_size=shape == 'shared')
  assert kernel.is_calibrated  # as TFP's: the inner kernel's
  results = kernel.bootstrap_results(state)
  assert isinstance(results, kernel_lib.StepSizeAdaptationResults)
  del calls[:]
  new_state, new_results = kernel.one_step(state, results, seed=[3, 4])
  assert len(calls) == NUM_LEAPFROG_STEPS  # adaptation costs nothing
  # The inner kernel's transition, with the step size it was given.
  plain_state, plain = inner.one_step(state, results.inner_results,
                                      seed=[3, 4])
  np.testing.assert_array_equal(new_state, plain_state)
  accept = np.exp(np.minimum(plain.log_accept_ratio.numpy(), 0.0))
  assert 0 < accept.min() < 1  # some rejections: the rule is exercised
  driving = {'per_chain': accept,
             'shared': np.repeat(accept.reshape(2, 3).mean(1), 3),
             'scalar': accept.mean()}[shape]
  expected = np.clip(step_size.numpy() * np.exp(0.1 * (driving - 0.7)),
                     1e-7, 10.0)
  adapted = new_results.inner_results.step_size.numpy()
  np.testing.assert_allclose(adapted, expected, rtol=1e-12)
  assert kernel_lib.innermost_results(new_results) is (
      new_results.inner_results)
  if shape == 'shared':
    np.testing.assert_array_equal(adapted.reshape(2, 3)[:, 0],
                                  expected.reshape(2, 3)[:, 0])
  with pytest.raises(ValueError, match='image structure'):
    kernel_lib.StepSizeAdaptation(AnnealedHMC(target.__call__, BETA, 0.1, 2),
                                  shared_step_size=True)


def test_step_size_adaptation_drives_sample_chain_to_the_target_rate():
  problem = LinearGaussianProblem(num_images=2)
  target = problem.target(num_chains=50)
  kernel = kernel_lib.StepSizeAdaptation(
      AnnealedHMC(target, 20.0, tf.fill([100], tf.constant(1.0, tf.float64)),
                  NUM_LEAPFROG_STEPS),
      target_accept_prob=0.75, adaptation_rate=0.1, shared_step_size=True)

  step_size, accept_prob = _adapted_chain(kernel, 150, seed=16,
                                          chain_seed=[2, 5])
  assert np.mean(accept_prob[:5]) < 0.05
  # One step size per image, shrunk until about 75% are accepted.
  np.testing.assert_array_equal(
      step_size[-1].numpy().reshape(2, 50),
      np.repeat(step_size[-1].numpy().reshape(2, 50)[:, :1], 50, axis=1))
  assert np.all(step_size[-1] < 0.4)
  assert 0.6 < np.mean(accept_prob[-30:]) < 0.9


@pytest.mark.parametrize('adapt', [False, True])
def test_an_ais_chunk_is_these_kernels_transitions(adapt):
  # tfrd.ais's compiled loop runs each transition as AnnealedHMC (wrapped in
  # StepSizeAdaptation when it adapts) with the noise of the transition's
  # position in the run's streams: stepping the kernels by hand, with the
  # log-weight update between them, gives the chunk's result bit for bit.
  problem = LinearGaussianProblem(num_images=2)
  target = problem.target(num_chains=3)
  settings = tfrd.HMCSettings(num_leapfrog_steps=NUM_LEAPFROG_STEPS,
                              target_accept_prob=0.7, adaptation_rate=0.1,
                              shared_step_size=adapt)
  runner = tfrd.ais.TransitionRunner(target, settings, jit_compile=False)
  latents = _prior_draws(6, seed=17)
  start = tfrd.ais.ChainState(
      latents, target(latents), tf.zeros([6], tf.float64),
      tf.constant(_step_sizes(6, seed=17, scale=0.8)),
      tf.constant(0.5, tf.float64))
  betas, run_seed, first, images = [1.0, 1.5, 2.0], 11, 34, [4, 1]
  chain, accept_sum, log_step_sum = runner.run_chunk(
      start, betas, run_seed, first, images, adapt=adapt)

  state, parts, log_weights = start.latents, start.parts, start.log_weights
  step_size, previous_beta = start.step_size, start.beta
  accept, log_steps = 0.0, 0.0
  for offset, beta in enumerate(betas):
    beta = tf.constant(beta, tf.float64)
    log_weights -= (beta - previous_beta) * parts.distortion
    momentum, log_uniform = randomness.transition_noise(
        randomness.noise_keys(run_seed), np.array(images, np.int64),
        tf.constant(first - 1 + offset, tf.int64), 3, LATENT_DIM)
    kernel = AnnealedHMC(target, beta, step_size, NUM_LEAPFROG_STEPS,
                         noise=(tf.reshape(momentum, [6, LATENT_DIM]),
                                tf.reshape(log_uniform, [6])))
    if adapt:
      kernel = kernel_lib.StepSizeAdaptation(kernel, 0.7, 0.1,
                                             shared_step_size=True)
    results = kernel.bootstrap_results(state, target_parts=parts)
    state, results = kernel.one_step(state, results)
    results = kernel_lib.innermost_results(results)
    accept += np.exp(np.minimum(results.log_accept_ratio.numpy(), 0.0))
    log_steps += np.log(step_size.numpy())
    parts, step_size, previous_beta = (results.target_parts,
                                       results.step_size, beta)
  np.testing.assert_array_equal(chain.latents, state)
  np.testing.assert_array_equal(chain.log_weights, log_weights)
  np.testing.assert_array_equal(chain.parts.distortion, parts.distortion)
  np.testing.assert_array_equal(chain.step_size, step_size)
  np.testing.assert_array_equal(accept_sum, accept)
  np.testing.assert_allclose(log_step_sum, log_steps, rtol=1e-14)
  assert np.array_equal(chain.step_size, start.step_size) == (not adapt)
