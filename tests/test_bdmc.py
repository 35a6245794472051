"""BDMC against exact oracles: simulated channels, log Z of linear decoders."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf

import tfrd
from tfrd import bdmc as bdmc_lib
from tfrd import preconditioning
from tfrd import randomness

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _geometric(beta, num_transitions, beta_min=0.05):
  """0, then log-spaced betas up to `beta`: n transitions."""
  return tfrd.geometric_betas(num_transitions, beta, min(beta_min, beta / 2))


def _assert_sandwich(result, exact):
  """Forward <= exact <= reverse on average over images, within noise.

  Both bounds are stochastic: an image's log Ẑ_fwd exceeds log Z, or its
  log Ẑ_rev falls short of it, by Monte Carlo noise, and the reverse chains
  of an image all start at its one exact sample. So the check is on the
  image mean, against three standard errors of that mean.
  """
  for excess in (result.lower - exact, exact - result.upper):
    standard_error = max(excess.std(ddof=1) / np.sqrt(excess.size), 0.02)
    assert excess.mean() < 3 * standard_error, (excess, standard_error)


def _exact_log_z(problem, simulated, distortion):
  return tfrd.linear_rate_distortion(problem.kernel, problem.bias,
                                     simulated.x, [simulated.beta],
                                     distortion).log_z[0]


@pytest.fixture(scope='module')
def model(small_linear_problem):
  return small_linear_problem.keras_model()


def test_squared_error_channel_has_variance_one_over_two_beta(
    small_linear_problem, model):
  problem = small_linear_problem
  simulated = bdmc_lib.simulate_data(model, 'mse', 2.0, 400,
                                     latent_dim=problem.latent_dim, seed=3)
  assert simulated.x.shape == (400, 24) and simulated.x.dtype == np.float32
  assert simulated.z.shape == (400, 3) and simulated.beta == 2.0
  residual = simulated.x - (simulated.z @ problem.kernel + problem.bias)
  # 9600 residuals: the variance estimate's relative error is about 1.5%.
  assert residual.mean() == pytest.approx(0.0, abs=0.02)
  assert residual.var() == pytest.approx(1 / (2 * 2.0), rel=0.06)
  assert simulated.z.mean() == pytest.approx(0.0, abs=0.15)
  assert simulated.z.var() == pytest.approx(1.0, rel=0.15)


@pytest.mark.parametrize('beta', [1.0, 4.0])
def test_gaussian_nll_channel_has_variance_sigma_squared_over_beta(
    small_linear_problem, model, beta):
  problem = small_linear_problem
  simulated = bdmc_lib.simulate_data(model, tfrd.GaussianNLL(0.5), beta, 300,
                                     latent_dim=problem.latent_dim, seed=4)
  residual = simulated.x - (simulated.z @ problem.kernel + problem.bias)
  assert residual.var() == pytest.approx(0.25 / beta, rel=0.06)


def test_decoder_variance_channel_uses_the_decoder_scale(small_linear_problem,
                                                        model):
  problem = small_linear_problem

  def decoder(latents):  # Mean, then log-variance log 0.09 (σ = 0.3).
    mean = model(latents)
    log_variance = tf.fill(tf.shape(mean), tf.cast(np.log(0.09), mean.dtype))
    return tf.concat([mean, log_variance], axis=-1)

  simulated = bdmc_lib.simulate_data(decoder, tfrd.GaussianNLL('decoder'),
                                     1.0, 300, latent_dim=3, seed=2)
  assert simulated.x.shape == (300, 24)
  residual = simulated.x - (simulated.z @ problem.kernel + problem.bias)
  assert residual.var() == pytest.approx(0.09, rel=0.06)


def test_bernoulli_channel_draws_binary_data_with_the_decoder_mean():
  probabilities = np.linspace(0.05, 0.95, 12).astype(np.float32)

  def decoder(latents):  # Ignores z: the channel's mean is known exactly.
    return tf.broadcast_to(probabilities, [tf.shape(latents)[0], 12])

  simulated = bdmc_lib.simulate_data(decoder, 'bernoulli_nll', 1.0, 2000,
                                     latent_dim=2, seed=5)
  assert set(np.unique(simulated.x)) == {0.0, 1.0}
  np.testing.assert_allclose(simulated.x.mean(0), probabilities, atol=0.04)


def test_simulation_is_stateless_per_image(model):
  kwargs = dict(latent_dim=3, seed=9)
  five = bdmc_lib.simulate_data(model, 'mse', 1.0, 5, **kwargs)
  three = bdmc_lib.simulate_data(model, 'mse', 1.0, 3, **kwargs)
  np.testing.assert_array_equal(five.z[:3], three.z)
  # The decoder's float32 matmul may round differently in another batch.
  np.testing.assert_allclose(five.x[:3], three.x, rtol=1e-6, atol=1e-6)
  fourth = bdmc_lib.simulate_data(model, 'mse', 1.0, 1, image_indices=[3],
                                  **kwargs)
  np.testing.assert_array_equal(fourth.z[0], five.z[3])
  other = bdmc_lib.simulate_data(model, 'mse', 1.0, 5, latent_dim=3, seed=10)
  assert not np.allclose(other.z, five.z)


@pytest.mark.parametrize('distortion, beta, message', [
    (tfrd.BernoulliNLL(), 2.0, 'only at beta = 1'),
    (tfrd.GaussianNLL('decoder'), 0.5, 'only at beta = 1'),
    (tfrd.SSIMDistortion((4, 6, 1), filter_size=3), 1.0,
     'does not define'),
    (tfrd.SquaredError(), 0.0, 'positive'),
])
def test_channels_without_exact_samples_are_refused(model, distortion, beta,
                                                    message):
  with pytest.raises(ValueError, match=message):
    bdmc_lib.simulate_data(model, distortion, beta, 2, latent_dim=3)


def _chains(num_chains, num_leapfrog_steps, seed=0, **hmc):
  return tfrd.ChainSettings(num_chains=num_chains, seed=seed,
                            hmc=tfrd.HMCSettings(
                                num_leapfrog_steps=num_leapfrog_steps, **hmc))


@pytest.fixture(scope='module')
def sandwiches(small_linear_problem, model):
  """BDMC at two betas: squared error at β = 20, Gaussian NLL at β = 1."""
  problem = small_linear_problem
  results = {}
  for name, distortion, beta in [('mse', tfrd.SquaredError(), 20.0),
                                 ('gaussian_nll', tfrd.GaussianNLL(0.5), 1.0)]:
    simulated = bdmc_lib.simulate_data(model, distortion, beta, 12,
                                       latent_dim=problem.latent_dim, seed=1)
    result = bdmc_lib.run_bdmc(
        model, distortion, _geometric(beta, 150), simulated,
        chains=_chains(8, 4, seed=2, target_accept_prob=0.8))
    results[name, beta] = (result,
                           _exact_log_z(problem, simulated, distortion))
  return results


@pytest.mark.parametrize('key', [('mse', 20.0), ('gaussian_nll', 1.0)])
def test_forward_and_reverse_sandwich_the_exact_log_z(sandwiches, key):
  result, exact = sandwiches[key]
  assert result.beta == key[1]
  assert result.lower.shape == result.upper.shape == (12,)
  np.testing.assert_allclose(result.gap, result.upper - result.lower)
  _assert_sandwich(result, exact)
  assert 0 < result.mean_gap < 1.0
  # Two forward passes and the reverse one, and the Hessian mass matrix's
  # rows (tfrd's default kernel) at the forward run's anchors.
  anchors = result.forward.mass_matrix_table.eigenvectors.shape[0] - 1
  assert anchors > 0
  assert result.num_decoder_gradients == 3 * 150 * 4 + 3 + -(
      -preconditioning.hessian_gradients_per_image(anchors, 3, 8) // 8)
  assert 0.5 < result.reverse_accept_rate < 1.0


@pytest.mark.slow  # about 10 s; the sandwich test checks the bounds
def test_forward_bound_is_the_forward_ais_run(small_linear_problem, model):
  problem = small_linear_problem
  simulated = bdmc_lib.simulate_data(model, 'mse', 5.0, 4, latent_dim=3,
                                     seed=6)
  schedule = tfrd.build_schedule([0.5, 5.0], _geometric(5.0, 30), 5, 5)
  chains = _chains(4, 3, seed=7)._replace(jit_compile=False)
  result = bdmc_lib.run_bdmc(model, 'mse', schedule, simulated,
                             chains=chains)
  forward = tfrd.run_ais(model, simulated.x, tfrd.SquaredError(), schedule,
                         latent_dim=problem.latent_dim, chains=chains)
  np.testing.assert_array_equal(result.lower, forward.estimates[-1].log_z)
  np.testing.assert_array_equal(result.forward.betas, [0.5, 5.0])
  # Same seed, same numbers; a subset of images keeps its own streams.
  again = bdmc_lib.run_bdmc(model, 'mse', schedule, simulated,
                            chains=chains)
  np.testing.assert_array_equal(again.upper, result.upper)
  subset = bdmc_lib.SimulatedData(simulated.x[2:], simulated.z[2:], 5.0)
  alone = bdmc_lib.run_bdmc(model, 'mse', schedule, subset,
                            image_indices=[2, 3], chains=chains)
  np.testing.assert_allclose(alone.upper, result.upper[2:], rtol=1e-6)
  with pytest.raises(ValueError, match='simulated at beta = 5'):
    bdmc_lib.run_bdmc(model, 'mse', _geometric(4.0, 10), simulated,
                      chains=chains)
  # RunControl: progress through every phase, a stop request, and no
  # checkpoints.
  phases, stop = set(), threading.Event()
  bdmc_lib.run_bdmc(model, 'mse', schedule, simulated, chains=chains,
                    control=tfrd.RunControl(
                        progress=lambda update: phases.add(update.phase)))
  assert phases == {'preliminary', 'reported', 'reverse'}
  stop.set()
  with pytest.raises(tfrd.RunInterrupted):
    bdmc_lib.run_bdmc(model, 'mse', schedule, simulated, chains=chains,
                      control=tfrd.RunControl(stop=stop))
  with pytest.raises(ValueError, match='checkpoint_dir'):
    bdmc_lib.bdmc_at_points(model, 'mse', [5.0], latent_dim=3,
                            schedule=schedule,
                            control=tfrd.RunControl(checkpoint_dir='unused'))


@pytest.mark.slow  # several AIS runs, more than 5 s
def test_gap_shrinks_as_the_schedule_lengthens(small_linear_problem, model):
  problem = small_linear_problem
  simulated = bdmc_lib.simulate_data(model, 'mse', 10.0, 6, latent_dim=3,
                                     seed=8)
  exact = _exact_log_z(problem, simulated, tfrd.SquaredError())
  gaps = {}
  for num_transitions in (20, 400):
    result = bdmc_lib.run_bdmc(
        model, 'mse', _geometric(10.0, num_transitions), simulated,
        chains=_chains(8, 3, seed=1, target_accept_prob=0.8,
                       step_size_mode='adaptive'))
    gaps[num_transitions] = result.mean_gap
    _assert_sandwich(result, exact)
  assert gaps[400] < gaps[20], gaps
  assert gaps[400] < 0.5 * gaps[20], gaps


def test_reverse_weights_are_unbiased_for_one_over_z(small_linear_problem,
                                                     model):
  # E[w_rev] = 1/Z needs exact samples of q_β(z|x): one chain on each of 150
  # simulated images, so the average runs over fresh (x, z) pairs.
  problem = small_linear_problem
  simulated = bdmc_lib.simulate_data(model, 'mse', 1.0, 150, latent_dim=3,
                                     seed=11)
  result = bdmc_lib.run_bdmc(
      model, 'mse', _geometric(1.0, 40, 0.02), simulated,
      chains=_chains(1, 3, seed=12, step_size_mode='fixed',
                     initial_step_size=0.3)._replace(jit_compile=False))
  exact = _exact_log_z(problem, simulated, tfrd.SquaredError())
  for ratios in (np.exp(result.reverse_log_weights[:, 0] + exact),  # w_rev·Z
                 np.exp(result.lower - exact)):  # Ẑ_fwd / Z
    standard_error = ratios.std(ddof=1) / np.sqrt(ratios.size)
    assert abs(ratios.mean() - 1.0) < 4 * standard_error + 0.02, (
        ratios.mean(), standard_error)


def test_reverse_chunks_cover_the_schedule_within_blocks():
  schedule = tfrd.build_schedule([0.5, 3.0, 10.0], _geometric(10.0, 90), 20, 5)
  ends = tfrd.ais.chunk_boundaries(schedule)
  n = schedule.num_transitions
  chunks = bdmc_lib._reverse_chunks(ends, n)  # pylint: disable=protected-access
  covered = np.concatenate([np.arange(first, last + 1)
                            for first, last, _ in chunks])
  np.testing.assert_array_equal(covered, np.arange(1, n + 1))
  for first, last, forward_chunk in chunks:
    assert (first - 1) // randomness.BLOCK_SIZE == (
        (last - 1) // randomness.BLOCK_SIZE)
    # Every reverse transition i runs at β_{n-i} with the step sizes forward
    # used at that β (the forward chunk holding transition max(n - i, 1)).
    for i in (first, last):
      k = max(n - i, 1)
      assert (ends[forward_chunk - 1] if forward_chunk else 0) < k <= (
          ends[forward_chunk])


def test_reverse_run_goes_through_the_pass_loop(model, monkeypatch):
  # The reverse chains run on tfrd.ais's one pass loop: its progress, its
  # stop request, its start check and its check of the weights at the end.
  schedule = tfrd.build_schedule([2.0], _geometric(2.0, 40), 0, 0)
  simulated = bdmc_lib.simulate_data(model, 'mse', 2.0, 2, latent_dim=3,
                                     seed=13)
  chains = _chains(2, 2, seed=14, step_size_mode='fixed')._replace(
      jit_compile=False)
  updates = []
  result = bdmc_lib.run_bdmc(model, 'mse', schedule, simulated,
                             chains=chains, control=tfrd.RunControl(
                                 progress=updates.append))
  reverse = [update for update in updates if update.phase == 'reverse']
  ends = [last for _, last, _ in bdmc_lib._reverse_chunks(  # pylint: disable=protected-access
      tfrd.ais.chunk_boundaries(schedule), schedule.num_transitions)]
  assert [update.transitions_done for update in reverse] == ends
  assert [update.points_done for update in reverse] == [0] * (
      len(ends) - 1) + [1]
  assert reverse[-1].beta == 0.0 and reverse[0].beta > 0
  assert result.wall_time_s.keys() == {'reported', 'reverse'}

  # A stop request ends the reverse run after its current chunk.
  stop, seen = threading.Event(), []

  def stop_in_reverse(update):
    seen.append(update.phase)
    if update.phase == 'reverse':
      stop.set()

  with pytest.raises(tfrd.RunInterrupted) as interrupted:
    bdmc_lib.run_bdmc(model, 'mse', schedule, simulated, chains=chains,
                      control=tfrd.RunControl(progress=stop_in_reverse,
                                              stop=stop))
  assert interrupted.value.checkpoint_path is None
  assert seen.count('reverse') == 1

  # Non-finite distortions where the reverse chains start.
  def nan_far_out(latents):
    outputs = model(latents)
    return tf.where(latents[:, :1] > 50.0, np.nan, outputs)

  far_out = simulated._replace(z=simulated.z + [[100.0, 0.0, 0.0]])
  with pytest.raises(tfrd.DecoderOutputError,
                     match='NaN.*given starting latents'):
    bdmc_lib.run_bdmc(nan_far_out, 'mse', schedule, far_out, chains=chains)

  # Non-finite reverse log-weights at its end (made so by hand here: HMC
  # rejects non-finite proposals, so a real decoder gets there only by an
  # overflowing weight).
  reverse_seed = randomness.derive_seed(14, randomness.RUN_SEED_TAGS[
      'reverse'])
  run_chunk = tfrd.ais.TransitionRunner.run_chunk

  def poisoned(self, state, betas, run_seed, *args, **kwargs):
    chain, accept_sum, log_step_sum = run_chunk(self, state, betas, run_seed,
                                                *args, **kwargs)
    if run_seed == reverse_seed:
      chain = chain._replace(log_weights=chain.log_weights + np.inf)
    return chain, accept_sum, log_step_sum

  monkeypatch.setattr(tfrd.ais.TransitionRunner, 'run_chunk', poisoned)
  with pytest.raises(tfrd.DecoderOutputError,
                     match=r'beta = 0 \(reverse pass\)'):
    bdmc_lib.run_bdmc(model, 'mse', schedule, simulated, chains=chains)


def test_truncate_schedule_keeps_the_stretch_to_beta():
  schedule = tfrd.build_schedule([0.5, 2.0, 8.0], _geometric(8.0, 40), 10, 3)
  truncated = bdmc_lib.truncate_schedule(schedule, 2.0)
  end = int(schedule.rd_indices[1])
  np.testing.assert_array_equal(truncated.betas, schedule.betas[:end + 1])
  np.testing.assert_array_equal(truncated.rd_indices, schedule.rd_indices[:2])
  with pytest.raises(ValueError, match='not one of the schedule'):
    bdmc_lib.truncate_schedule(schedule, 3.0)


def test_bdmc_at_points_reports_every_point(small_linear_problem, model):
  results = bdmc_lib.bdmc_at_points(
      model, 'mse', [0.5, 4.0], num_images=3,
      latent_dim=small_linear_problem.latent_dim, num_intermediate=50,
      chains=_chains(4, 3, seed=0)._replace(jit_compile=False))
  assert [result.beta for result in results] == [0.5, 4.0]
  for result in results:
    assert result.simulated.beta == result.beta
    assert result.gap.shape == (3,) and np.all(np.isfinite(result.gap))
  # Each point has its own simulated data.
  assert not np.allclose(results[0].simulated.z, results[1].simulated.z)
  assert bdmc_lib.default_bdmc_betas('bernoulli_nll') == [1.0]
  assert bdmc_lib.default_bdmc_betas('mse') == [1 / 12, 1.0, 1000.0]
  with pytest.raises(ValueError, match='only at beta = 1'):
    bdmc_lib.bdmc_at_points(model, 'bernoulli_nll', [0.5, 1.0], latent_dim=3)
  schedule = tfrd.build_schedule([1.0, 4.0], _geometric(4.0, 20), 5, 3)
  with pytest.raises(ValueError, match='not one of the schedule'):
    bdmc_lib.bdmc_at_points(model, 'mse', [2.0], latent_dim=3,
                            schedule=schedule)
  with pytest.raises(ValueError, match='step_size_table must be None'):
    bdmc_lib.bdmc_at_points(
        model, 'mse', [1.0], latent_dim=3, schedule=schedule,
        chains=tfrd.ChainSettings(step_size_table=np.ones([1, 16])))


def test_images_beyond_a_measurement_are_fresh_and_reproducible(
    small_linear_problem, model):
  # bdmc_on_images at indices 2 and 3 gives exactly the images 2 and 3 of
  # a measurement of 4 (stateless streams per image), and other data than
  # images 0 and 1: what a fresh measurement beyond a search's images is.
  chains = _chains(4, 3, seed=0)._replace(jit_compile=False)
  schedule = tfrd.build_schedule([4.0], _geometric(4.0, 30), 5, 3)
  prior = tfrd.standard_normal_prior(small_linear_problem.latent_dim)
  (four,) = bdmc_lib.bdmc_at_points(model, 'mse', [4.0], num_images=4,
                                    prior=prior, schedule=schedule,
                                    chains=chains)
  (later,) = bdmc_lib.bdmc_on_images(model, 'mse', [4.0], [2, 3], prior,
                                     schedule, chains)
  np.testing.assert_array_equal(later.simulated.z, four.simulated.z[2:])
  np.testing.assert_allclose(later.gap, four.gap[2:], atol=1e-4)
  assert not np.allclose(later.simulated.z, four.simulated.z[:2])
  with pytest.raises(ValueError, match='positive integer'):
    bdmc_lib.bdmc_at_points(model, 'mse', [4.0], num_images=2.5,
                            prior=prior, schedule=schedule, chains=chains)


def test_shared_step_size_gives_one_step_size_per_image(small_linear_problem,
                                                         model):
  problem = small_linear_problem
  schedule = tfrd.build_schedule([2.0], _geometric(2.0, 40), 0, 0)
  run = tfrd.run_ais(model, problem.data, tfrd.SquaredError(), schedule,
                     latent_dim=3,
                     chains=_chains(4, 3, step_size_mode='adaptive',
                                    shared_step_size=True)._replace(
                                        jit_compile=False))
  table = run.step_size_table.reshape(-1, 4, 4)  # chunks, images, chains
  np.testing.assert_array_equal(table, np.repeat(table[..., :1], 4, axis=-1))
  assert not np.allclose(table[-1, :, 0], 0.1)  # it did adapt


def _run_app(*args):
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
  return subprocess.run([sys.executable, '-m', 'apps.bdmc', *args], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=600,
                        check=False)


@pytest.fixture(scope='module')
def decoder_file(small_linear_problem, tmp_path_factory):
  path = str(tmp_path_factory.mktemp('bdmc') / 'linear.keras')
  small_linear_problem.keras_model().save(path)
  return path


@pytest.mark.slow
def test_app_end_to_end(decoder_file, tmp_path):
  output_dir = tmp_path / 'out'
  result = _run_app(f'--model={decoder_file}', '--rd_points=0.5,10',
                    '--num_images=2', '--num_chains=4', '--num_intermediate=40',
                    '--num_rd_points=3', '--beta_max=10',
                    '--min_before_first=10', '--min_between=3',
                    '--leapfrog_steps=3', '--jit=false',
                    f'--output_dir={output_dir}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(output_dir)) == ['bdmc.json', 'bdmc.png',
                                            'simulated.npz']
  with open(output_dir / 'bdmc.json') as stream:
    document = json.load(stream)
  assert document['format'] == 'tfrd.bdmc/2'
  assert [point['beta'] for point in document['points']] == [0.5, 10.0]
  for point in document['points']:
    assert point['mean_gap'] == pytest.approx(point['mean_upper'] -
                                              point['mean_lower'])
    assert point['max_gap'] >= point['mean_gap']
    assert len(point['gap_per_image']) == 2
    assert point['forward_curve']['beta'][-1] == point['beta']
  assert document['config']['num_chains'] == 4
  assert document['max_gap'] == max(p['mean_gap'] for p in document['points'])
  with np.load(output_dir / 'simulated.npz') as arrays:
    assert arrays['x_1'].shape == (2, 24) and arrays['z_1'].shape == (2, 3)
  assert 'largest mean BDMC gap' in result.stdout
  assert 'reverse' in result.stderr  # the progress line


@pytest.mark.slow  # each case starts apps.bdmc, which loads TensorFlow
@pytest.mark.parametrize('args, message', [
    (['--rd_points=0.5,20', '--beta_max=10'],
     '--rd_points: BDMC points must be positive and at most 10'),
    (['--distortion=bernoulli_nll', '--rd_points=2'], 'only at beta = 1'),
])
def test_app_bad_input_fails_cleanly(decoder_file, tmp_path, args, message):
  result = _run_app(f'--model={decoder_file}', *args,
                    f'--output_dir={tmp_path}')
  assert result.returncode == 2
  assert 'bdmc: error: ' in result.stderr and message in result.stderr
  assert 'Traceback' not in result.stderr
  assert not os.path.exists(tmp_path / 'bdmc.json')
