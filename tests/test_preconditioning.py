"""tfrd.preconditioning: the Hessian mass matrix of HMC on deep decoders.

Oracles: a linear decoder with squared error, whose distortion Hessian is
exactly 2·A·Aᵀ and whose annealed target q_β is exactly Gaussian with
precision I + 2β·A·Aᵀ (tfrd/linear.py), so log Z_β is known in closed form;
and plain HMC (the mass matrix I), which the identity row must reproduce bit
for bit.
"""

import numpy as np
import pytest
import tensorflow as tf

import tfrd
from tfrd import bdmc as bdmc_lib
from tfrd import hmc
from tfrd import linear
from tfrd import preconditioning

LATENT_DIM, DATA_DIM = 6, 40


def _ill_conditioned_kernel(seed=0):
  """[D, E] weights whose singular values span 3 to 0.01 (a deep decoder's
  posterior is that uneven: narrow along what it uses, wide elsewhere)."""
  rng = np.random.default_rng(seed)
  left, _ = np.linalg.qr(rng.normal(size=(DATA_DIM, LATENT_DIM)))
  right, _ = np.linalg.qr(rng.normal(size=(LATENT_DIM, LATENT_DIM)))
  return ((left * np.geomspace(3.0, 0.01, LATENT_DIM)) @ right.T).T


KERNEL = _ill_conditioned_kernel()


def _decoder(z):
  return tf.matmul(z, tf.constant(KERNEL))


def _target(data, num_chains):
  return tfrd.AnnealedTarget(_decoder, tfrd.standard_normal_prior(LATENT_DIM),
                             tfrd.SquaredError(), data, num_chains,
                             decoder_dtype=tf.float64)


def _data(num_images, seed=1):
  return np.random.default_rng(seed).normal(size=(num_images, DATA_DIM))


def test_hessian_of_a_linear_decoder_is_two_a_a_transpose():
  target = _target(_data(2), num_chains=3)
  latents = tf.constant(np.random.default_rng(2).normal(size=(6, LATENT_DIM)))
  hessians = preconditioning.mean_distortion_hessian(
      target.distortion_of, latents, num_images=2).numpy()
  np.testing.assert_allclose(hessians, np.broadcast_to(
      2.0 * KERNEL @ KERNEL.T, hessians.shape), rtol=1e-10, atol=1e-10)


def test_mass_matrix_is_the_exact_posterior_precision():
  beta = 37.0
  eigenvectors, eigenvalues = preconditioning.eigen_table_row(
      (2.0 * KERNEL @ KERNEL.T)[np.newaxis])
  metric = (tf.constant(eigenvectors), tf.constant(eigenvalues))
  precision = np.eye(LATENT_DIM) + 2.0 * beta * KERNEL @ KERNEL.T
  # M⁻¹ applied to the unit vectors is the posterior covariance.
  velocities = preconditioning.velocity(metric, beta, tf.eye(
      LATENT_DIM, dtype=tf.float64)).numpy()
  np.testing.assert_allclose(velocities, np.linalg.inv(precision), rtol=1e-8,
                             atol=1e-12)
  # p = M^(1/2)·ξ has covariance M; ½ pᵀM⁻¹p = ½|ξ|².
  noise = tf.constant(np.random.default_rng(3).normal(size=(5, LATENT_DIM)))
  momenta = preconditioning.momentum(metric, beta, noise)
  np.testing.assert_allclose(
      preconditioning.kinetic_energy(metric, beta, momenta).numpy(),
      0.5 * np.sum(noise.numpy() ** 2, axis=-1), rtol=1e-9)


def test_identity_metric_reproduces_plain_hmc_bit_for_bit():
  target = _target(_data(2), num_chains=4)
  rng = np.random.default_rng(4)
  state = tf.constant(rng.normal(size=(8, LATENT_DIM)))
  momentum = tf.constant(rng.normal(size=(8, LATENT_DIM)))
  log_uniform = tf.constant(np.log(rng.uniform(size=8)))
  step_size = tf.constant(np.full(8, 0.05))
  beta = tf.constant(20.0, tf.float64)
  identity = (tf.eye(LATENT_DIM, batch_shape=[2], dtype=tf.float64),
              tf.zeros([2, LATENT_DIM], tf.float64))
  parts = target(state)
  plain = hmc.hmc_transition(target, beta, state, parts, momentum,
                             log_uniform, step_size, 3)
  metric = hmc.hmc_transition(target, beta, state, parts, momentum,
                              log_uniform, step_size, 3, identity)
  np.testing.assert_array_equal(plain.state.numpy(), metric.state.numpy())
  np.testing.assert_array_equal(plain.log_accept_ratio.numpy(),
                                metric.log_accept_ratio.numpy())


def test_hmc_with_the_mass_matrix_keeps_the_exact_posterior():
  """Chains started at the exact posterior stay there (mean and variance)."""
  beta, num_chains = 200.0, 400
  data = _data(1)
  precision = np.eye(LATENT_DIM) + 2.0 * beta * KERNEL @ KERNEL.T
  covariance = np.linalg.inv(precision)
  mean = covariance @ (2.0 * beta * KERNEL @ data[0])
  rng = np.random.default_rng(5)
  state = tf.constant(rng.multivariate_normal(mean, covariance, num_chains))
  target = _target(data, num_chains)
  eigenvectors, eigenvalues = preconditioning.eigen_table_row(
      (2.0 * KERNEL @ KERNEL.T)[np.newaxis])
  metric = (tf.constant(eigenvectors), tf.constant(eigenvalues))
  parts = target(state)
  accepted = []
  for _ in range(30):
    result = hmc.hmc_transition(
        target, tf.constant(beta, tf.float64), state, parts,
        tf.constant(rng.normal(size=(num_chains, LATENT_DIM))),
        tf.constant(np.log(rng.uniform(size=num_chains))),
        tf.constant(np.full(num_chains, 0.5)), 2, metric)
    state, parts = result.state, result.parts
    accepted.append(result.is_accepted.numpy().mean())
  # Whitened, the posterior is N(0, I): each coordinate's sample mean and
  # variance over independent chains have known spreads.
  whitened = (state.numpy() - mean) @ np.linalg.cholesky(precision)
  assert np.all(np.abs(whitened.mean(axis=0)) < 4.5 / np.sqrt(num_chains))
  assert np.all(np.abs(whitened.var(axis=0) - 1.0) <
                4.5 * np.sqrt(2.0 / num_chains))
  # At a step size of 0.5 in whitened units almost every proposal is taken:
  # the mass matrix made the target isotropic.
  assert np.mean(accepted) > 0.9


def test_anchors_are_geometric_in_beta_and_never_the_last_chunk():
  betas = np.geomspace(1e-4, 1e3, 500)
  anchors = preconditioning.anchor_chunks(betas)
  assert anchors.size == preconditioning.MAX_ANCHORS
  assert anchors[0] == 0 and anchors[-1] < betas.size - 1
  ratios = betas[anchors[1:]] / betas[anchors[:-1]]
  np.testing.assert_allclose(ratios, ratios[0], rtol=0.1)
  rows = preconditioning.chunk_rows(betas.size, anchors)
  # Chunk 0 runs on the identity, the chunk after an anchor on its row.
  assert rows[0] == 0 and rows[anchors[0] + 1] == 1
  assert rows[-1] == anchors.size
  assert preconditioning.anchor_chunks([1.0]).size == 0


def _schedule(num_intermediate):
  return tfrd.schedule_from_settings(tfrd.ScheduleSettings(
      num_intermediate=num_intermediate, rd_betas=(1 / 12, 1.0, 1000.0),
      min_before_first=num_intermediate // 5))


def _bdmc(mass_matrix, num_intermediate, num_images=4):
  simulated = bdmc_lib.simulate_data(_decoder, 'mse', 1000.0, num_images,
                                     latent_dim=LATENT_DIM, seed=1,
                                     decoder_dtype=tf.float64)
  chains = tfrd.ChainSettings(
      num_chains=8, decoder_dtype='float64',
      hmc=tfrd.HMCSettings(mass_matrix=mass_matrix))
  result = bdmc_lib.run_bdmc(_decoder, 'mse', _schedule(num_intermediate),
                             simulated, chains=chains)
  exact = linear.linear_rate_distortion(
      KERNEL, np.zeros(DATA_DIM), simulated.x, [1000.0], tfrd.SquaredError())
  return result, np.ravel(exact.log_z)


@pytest.fixture(scope='module')
def short_bdmc():
  return {mass: _bdmc(mass, 300) for mass in ('identity', 'hessian')}


def test_hessian_mass_matrix_sandwiches_the_exact_log_z_far_tighter(
    short_bdmc):
  hessian, exact = short_bdmc['hessian']
  identity, _ = short_bdmc['identity']
  # Both directions are bounds in expectation only: on one image of 8
  # chains either can cross log Z by its noise, so the means over images
  # are checked against two standard errors.
  def mean_and_stderr(values):
    return values.mean(), values.std(ddof=1) / np.sqrt(values.size)
  mean, stderr = mean_and_stderr(hessian.lower - exact)
  assert mean <= 2 * stderr
  mean, stderr = mean_and_stderr(hessian.upper - exact)
  assert mean >= -2 * stderr
  # At 300 distributions up to beta = 1000 plain HMC is more than 5 nats
  # loose (measured 5.3); the Hessian mass matrix is within noise of exact.
  assert identity.gap.mean() > 5.0
  assert hessian.gap.mean() < identity.gap.mean() / 4


def test_reported_pass_replays_the_preliminary_table(short_bdmc):
  hessian, _ = short_bdmc['hessian']
  table = hessian.forward.mass_matrix_table
  assert table.eigenvectors.shape[0] == table.chunk_rows.max() + 1
  # Row 0 is the identity; every anchor row holds 2·A·Aᵀ's spectrum.
  np.testing.assert_array_equal(table.eigenvalues[0], 0.0)
  expected = np.linalg.eigvalsh(2.0 * KERNEL @ KERNEL.T)
  np.testing.assert_allclose(table.eigenvalues[1:],
                             np.broadcast_to(np.maximum(expected, 0),
                                             table.eigenvalues[1:].shape),
                             rtol=1e-6, atol=1e-9)
  assert short_bdmc['identity'][0].forward.mass_matrix_table is None


def test_hessian_cost_is_counted(short_bdmc):
  hessian, _ = short_bdmc['hessian']
  identity, _ = short_bdmc['identity']
  anchors = hessian.forward.mass_matrix_table.eigenvectors.shape[0] - 1
  extra = preconditioning.hessian_gradients_per_image(anchors, LATENT_DIM, 8)
  assert (hessian.forward.num_decoder_gradients -
          identity.forward.num_decoder_gradients) == -(-extra // 8)


def test_interrupted_preconditioned_run_resumes_exactly(tmp_path):
  data = _data(2)
  schedule = _schedule(200)
  chains = tfrd.ChainSettings(num_chains=4, decoder_dtype='float64',
                              hmc=tfrd.HMCSettings(mass_matrix='hessian'))

  class StopAfter:
    def __init__(self, count):
      self.count = count

    def __call__(self, update):
      self.count -= 1

    def is_set(self):
      return self.count <= 0

  whole = tfrd.estimate_rd_curve(_decoder, data, 'mse', schedule,
                                 latent_dim=LATENT_DIM, chains=chains)
  stop = StopAfter(9)  # in the preliminary pass, after a few anchors
  control = tfrd.RunControl(progress=stop, stop=stop,
                            checkpoint_dir=str(tmp_path / 'ckpt'),
                            checkpoint_interval_s=0.0)
  with pytest.raises(tfrd.RunInterrupted):
    tfrd.estimate_rd_curve(_decoder, data, 'mse', schedule,
                           latent_dim=LATENT_DIM, chains=chains,
                           control=control)
  resumed = tfrd.estimate_rd_curve(
      _decoder, data, 'mse', schedule, latent_dim=LATENT_DIM, chains=chains,
      control=control._replace(progress=None, stop=None))
  np.testing.assert_array_equal(whole.rate, resumed.rate)
  np.testing.assert_array_equal(whole.log_z, resumed.log_z)


def test_the_hessian_is_the_default_wherever_step_sizes_adapt():
  assert tfrd.HMCSettings().mass_matrix == 'hessian'
  assert tfrd.HMCSettings(step_size_mode='adaptive').mass_matrix == 'hessian'
  # A fixed step size adapts nothing, so nothing measures the Hessian.
  assert tfrd.HMCSettings(step_size_mode='fixed').mass_matrix == 'identity'
  assert tfrd.ChainSettings().hmc.mass_matrix == 'hessian'


@pytest.mark.parametrize('changes, message', [
    (dict(step_size_mode='fixed'), "'two_pass' or 'adaptive'"),
    (dict(mass_matrix='dense'), 'mass_matrix must be one of'),
])
def test_bad_settings_are_refused(changes, message):
  with pytest.raises(ValueError, match=message):
    tfrd.HMCSettings(**{'mass_matrix': 'hessian', **changes})


def test_one_adaptive_pass_measures_and_uses_the_hessian():
  data = _data(2)
  schedule = _schedule(300)
  runs = {mass: tfrd.run_ais(
      _decoder, data, tfrd.SquaredError(), schedule, latent_dim=LATENT_DIM,
      chains=tfrd.ChainSettings(
          num_chains=8, decoder_dtype='float64',
          hmc=tfrd.HMCSettings(step_size_mode='adaptive',
                               mass_matrix=mass)))
          for mass in ('identity', 'hessian')}
  table = runs['hessian'].mass_matrix_table
  expected = np.linalg.eigvalsh(2.0 * KERNEL @ KERNEL.T)
  np.testing.assert_allclose(table.eigenvalues[1:],
                             np.broadcast_to(np.maximum(expected, 0),
                                             table.eigenvalues[1:].shape),
                             rtol=1e-6, atol=1e-9)
  # One pass: half the transitions' gradients of two_pass, plus the
  # Hessian's rows.
  anchors = table.eigenvectors.shape[0] - 1
  assert (runs['hessian'].num_decoder_gradients -
          runs['identity'].num_decoder_gradients) == -(
              -preconditioning.hessian_gradients_per_image(
                  anchors, LATENT_DIM, 8) // 8)
  # Whitened, the step sizes settle far above plain HMC's at beta = 1000,
  # where the narrowest direction (precision 1 + 2000·9) sets its scale.
  assert (np.median(runs['hessian'].step_size_table[-1]) >
          10 * np.median(runs['identity'].step_size_table[-1]))
  exact = linear.linear_rate_distortion(
      KERNEL, np.zeros(DATA_DIM), data, [1000.0], tfrd.SquaredError())
  hessian_error = np.abs(runs['hessian'].estimates[-1].log_z -
                         np.ravel(exact.log_z)).mean()
  identity_error = np.abs(runs['identity'].estimates[-1].log_z -
                          np.ravel(exact.log_z)).mean()
  assert hessian_error < identity_error / 4


def test_a_replayed_step_size_table_is_refused():
  schedule = _schedule(100)
  chains = tfrd.ChainSettings(
      num_chains=2, decoder_dtype='float64',
      hmc=tfrd.HMCSettings(mass_matrix='hessian'),
      step_size_table=np.ones([4, 2]))
  with pytest.raises(ValueError, match='step-size table'):
    tfrd.run_ais(_decoder, _data(1), tfrd.SquaredError(), schedule,
                 latent_dim=LATENT_DIM, chains=chains)
