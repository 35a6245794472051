"""benchmarks.smc_baseline: TFP's SMC, its counted decoder gradients and
its log Ẑ against exact answers; the benchmark end to end (smoke-sized)."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import smc_baseline
import tfrd


class CountingQuadraticDecoder:
  """A toy 'decoder' f(z) = zK + 0.1·(zK)² that counts the rows of each of
  its forward and backward passes itself, in variables of its own (a
  Python count of a traced function would count its tracing only)."""

  def __init__(self, kernel):
    self.kernel = tf.constant(kernel, tf.float32)
    self.forward_rows = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.backward_rows = tf.Variable(0, dtype=tf.int64, trainable=False)

  def __call__(self, latents):

    @tf.custom_gradient
    def decode(z):
      rows = tf.cast(tf.shape(z)[0], tf.int64)
      self.forward_rows.assign_add(rows)
      linear = z @ self.kernel

      def gradient(upstream, variables=None):
        self.backward_rows.assign_add(rows)
        return ((upstream * (1.0 + 0.2 * linear)) @ tf.transpose(self.kernel),
                [None] * len(variables or ()))

      return linear + 0.1 * linear**2, gradient

    return decode(latents)


def test_counted_gradients_are_the_decoders_own_count():
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(3, 12)) * 0.5
  data = (rng.normal(size=(1, 3)) @ kernel + 0.1 * rng.normal(
      size=(1, 12))).astype(np.float32)
  particles, steps, beta = 16, 3, 20.0
  decoder = CountingQuadraticDecoder(kernel)
  runner = smc_baseline.SMCRunner(
      smc_baseline.annealed_log_likelihood(decoder, 'mse', beta, tf.float32),
      tfrd.target.standard_normal_prior(3), particles, num_leapfrog_steps=steps,
      jit_compile=False, beta=beta)
  for seed in ([3, 4], [5, 6]):
    decoder.forward_rows.assign(0)
    decoder.backward_rows.assign(0)
    run = runner(data, tf.constant(seed, tf.int32))
    assert run.final_inverse_temperature == 1.0
    assert run.num_stages >= 2
    backward = int(decoder.backward_rows.numpy())
    assert run.decoder_gradients == backward > 0
    assert run.forward_only_rows == int(decoder.forward_rows.numpy()) - backward
    # What SMC spends, per particle: the likelihood at the start and after
    # each stage, without a gradient; a gradient at the start and as each
    # stage's HMC kernel starts, then L per HMC step.
    assert run.forward_only_rows == particles * (run.num_stages + 1)
    per_particle = run.decoder_gradients // particles
    assert per_particle * particles == run.decoder_gradients
    hmc_gradients = per_particle - 1 - run.num_stages
    assert hmc_gradients >= 2 * steps * run.num_stages  # at least 2 steps
    assert hmc_gradients % steps == 0


def _linear_problem(seed=0, latent_dim=6, data_dim=40, beta=100.0):
  """A linear decoder and one image simulated from it at β, with the exact
  curve there (`tfrd.linear_rate_distortion`)."""
  rng = np.random.default_rng(seed)
  kernel = (rng.normal(size=(latent_dim, data_dim)) * 0.3).astype(np.float32)
  bias = rng.uniform(0.0, 0.3, size=data_dim).astype(np.float32)
  latent = rng.normal(size=latent_dim)
  data = (latent @ kernel + bias + rng.normal(size=data_dim) /
          math.sqrt(2 * beta)).astype(np.float32)[None]
  decoder = lambda z: z @ tf.constant(kernel) + tf.constant(bias)
  exact = tfrd.linear_rate_distortion(kernel, bias, data, [beta],
                                      tfrd.get_distortion('mse'))
  return decoder, data, exact, latent_dim


def test_smc_log_z_against_the_linear_closed_form():
  beta = 100.0
  decoder, data, curve, latent_dim = _linear_problem(beta=beta)
  exact = curve.log_z[0, 0]
  runner = smc_baseline.SMCRunner(
      smc_baseline.annealed_log_likelihood(decoder, 'mse', beta, tf.float32),
      tfrd.target.standard_normal_prior(latent_dim), 512,
      num_leapfrog_steps=2, jit_compile=False, beta=beta)
  runs = [runner(data, tf.constant([seed, 7], tf.int32))
          for seed in range(12)]
  estimates = np.array([run.log_z for run in runs])
  assert all(run.final_inverse_temperature == 1.0 for run in runs)
  mean = estimates.mean()
  stderr = estimates.std(ddof=1) / math.sqrt(estimates.size)
  # log Ẑ is a stochastic lower bound: not above the truth beyond its noise,
  # and below it by no more than its noise and a Jensen (and adaptive
  # tempering) bias of a tenth of a nat at 512 particles.
  assert exact - 4 * stderr - 0.15 <= mean <= exact + 4 * stderr, (
      mean, stderr, exact)
  # TFP's own value weighs the last stage at its unclipped β' > 1: far
  # below the truth here.
  reported = np.array([run.tfp_log_z for run in runs])
  assert reported.mean() < exact - 1.0
  assert np.all(reported < estimates)
  # The implied rate: -log Ẑ - β D̂, against the closed form.
  rates = np.array([run.rate for run in runs])
  assert abs(rates.mean() - curve.rate[0, 0]) < 0.5, (rates.mean(), curve)


def test_tfp_reported_value_is_reproduced_from_the_records():
  beta = 100.0
  decoder, data, _, latent_dim = _linear_problem(seed=1, beta=beta)
  runner = smc_baseline.SMCRunner(
      smc_baseline.annealed_log_likelihood(decoder, 'mse', beta, tf.float32),
      tfrd.target.standard_normal_prior(latent_dim), 128,
      num_leapfrog_steps=2, jit_compile=False, beta=beta)
  run = runner(data, tf.constant([1, 2], tf.int32))
  betas, likelihoods = runner.records
  assert betas.size == run.num_stages + 1
  np.testing.assert_array_equal(betas, run.stage_betas)
  assert betas[0] == 0.0 and betas[-1] == 1.0
  assert np.all(np.diff(betas) > 0)
  # The corrected estimate: every stage's increment with β at most 1.
  assert run.log_z == pytest.approx(
      smc_baseline.corrected_log_z(betas, likelihoods), abs=1e-9)
  # TFP's: the same stages, the last at the β' its bisection found, > 1.
  overshoot = smc_baseline.tfp_final_beta(betas[-2], likelihoods[-2])
  assert overshoot > 1.0
  tfp_betas = np.append(betas[:-1], overshoot)
  reproduced = smc_baseline.corrected_log_z(
      np.minimum(tfp_betas, 1.0), likelihoods) + (
          smc_baseline.log_mean_exp((overshoot - betas[-2]) *
                                    likelihoods[-2]) -
          smc_baseline.log_mean_exp((1.0 - betas[-2]) * likelihoods[-2]))
  assert reproduced == pytest.approx(run.tfp_log_z, abs=1e-6 * abs(
      run.tfp_log_z))


def test_calibration_lands_near_the_budget():
  beta = 100.0
  decoder, data, _, latent_dim = _linear_problem(seed=2, beta=beta)

  def make_runner(particles):
    return smc_baseline.SMCRunner(
        smc_baseline.annealed_log_likelihood(decoder, 'mse', beta,
                                             tf.float32),
        tfrd.target.standard_normal_prior(latent_dim), particles,
        num_leapfrog_steps=2, jit_compile=False, beta=beta)

  budget = 40000
  runner, run, attempts = smc_baseline.calibrate_particles(
      make_runner, data, lambda attempt: tf.constant([attempt, 9], tf.int32),
      budget, pilot=16)
  assert attempts[0][0] == 16 and len(attempts) >= 2
  assert runner.num_particles == attempts[-1][0] == run.num_particles
  assert abs(run.decoder_gradients / budget - 1.0) < 0.25


def test_kernel_specs():
  assert smc_baseline.parse_kernel('10') == ('10', 10, 2, 25)
  assert smc_baseline.parse_kernel('10x50') == ('10x50', 10, 50, 50)
  assert smc_baseline.parse_kernel('10x50').label == 'SMC L=10, 50 steps'
  for bad in ('', 'x', '0', '10x0', '2x3x4', 'ten'):
    with pytest.raises(ValueError, match='--smc_kernels'):
      smc_baseline.parse_kernel(bad)


@pytest.mark.slow  # the benchmark end to end: tfrd's BDMC, then SMC
def test_quick_run_in_process(tmp_path):
  settings = smc_baseline.quick_settings(smc_baseline.Settings(
      output_dir=str(tmp_path), decoders=('linear10',)))
  records = smc_baseline.run(settings)
  (record,) = records
  with open(tmp_path / 'smc_baseline.json') as stream:
    written = json.load(stream)
  assert written['decoders'] == json.loads(json.dumps(records))
  assert written['settings']['quick'] is True
  assert record['decoder'] == 'linear10' and record['latent_dim'] == 10
  tfrd_record = record['tfrd']
  assert len(tfrd_record['lower']) == len(record['exact_log_z']) == 2
  assert tfrd_record['mass_matrix'] == 'hessian'
  budget = tfrd_record['forward_decoder_gradients_per_image']
  (smc,) = record['smc']
  assert smc['kernel'] == '2' and smc['num_leapfrog_steps'] == 2
  assert (smc['min_num_steps'], smc['max_num_steps']) == (2, 25)
  for run in smc['runs']:
    assert run['final_inverse_temperature'] == 1.0
    assert run['num_particles'] == smc['num_particles']
    assert 0.5 < run['decoder_gradients'] / budget < 1.5
  table = (tmp_path / 'smc_baseline.md').read_text()
  assert '| tfrd AIS (forward, hessian, L=2, 4 chains) |' in table
  assert (f"| TFP SMC (HMC L=2, TFP's adaptive 2-25 steps a stage, "
          f'{smc["num_particles"]} particles) |') in table
  assert 'exact log Z' in table
