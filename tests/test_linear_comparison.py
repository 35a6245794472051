"""tfrd.compare_with_exact's Monte Carlo allowance (the exact posterior
variance), and pipelines.linear_comparison: the AIS estimator against the
closed form of a linear VAE, as apps.linear_vae and apps.reproduce run it."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipelines import linear_comparison
from pipelines import output_files
from pipelines import settings as pipeline_settings
import tfrd
from tfrd import linear

import app_runner  # pylint: disable=g-bad-import-order

DATA_DIR = os.environ.get('TFRD_DATA_DIR') or os.path.join(
    os.path.dirname(app_runner.REPO), 'shared', 'data')


def _importance_moments(kernel, bias, image, beta, num_samples, seed):
  """E_q[d] and Var_q[d] by self-normalized importance sampling from p(z)."""
  rng = np.random.default_rng(seed)
  latents = rng.standard_normal((num_samples, kernel.shape[0]))
  distortion = np.sum((image - latents @ kernel - bias) ** 2, axis=1)
  log_weights = -beta * distortion
  weights = np.exp(log_weights - log_weights.max())
  weights /= weights.sum()
  mean = np.sum(weights * distortion)
  return mean, np.sum(weights * (distortion - mean) ** 2)


def test_distortion_variance_matches_importance_sampling():
  rng = np.random.default_rng(3)
  kernel = rng.normal(size=(2, 5)) * 0.7
  bias = rng.normal(size=5) * 0.1
  images = rng.normal(size=(2, 5))
  betas = np.array([0.05, 0.3, 1.0])
  variance = tfrd.linear_distortion_variance(
      kernel, bias, images, betas, tfrd.SquaredError())
  exact = tfrd.linear_rate_distortion(kernel, bias, images, betas,
                                      tfrd.SquaredError())
  assert variance.shape == (3, 2)
  for k, beta in enumerate(betas):
    for i, image in enumerate(images):
      mean, sampled_variance = _importance_moments(
          kernel, bias, image, beta, 400_000, seed=10 * k + i)
      np.testing.assert_allclose(mean, exact.distortion[k, i], rtol=0.01)
      np.testing.assert_allclose(variance[k, i], sampled_variance, rtol=0.03)


def test_distortion_stderr_is_the_standard_error_of_the_image_mean():
  variance = np.array([[4.0, 16.0], [1.0, 1.0]])
  stderr = linear.distortion_stderr(variance, effective_chains=[4, 1])
  # Image means of independent per-image means with variance var/chains.
  np.testing.assert_allclose(stderr, [np.sqrt(1.0 + 4.0) / 2,
                                      np.sqrt(2.0) / 2])
  # Fewer than one effective chain is counted as one.
  np.testing.assert_allclose(
      linear.distortion_stderr(variance, [0.2, 0.5]),
      linear.distortion_stderr(variance, [1, 1]))


class _Curve:
  """The fields of an RDCurve that the comparison reads."""

  def __init__(self, rate, distortion, effective_sample_size_per_image):
    self.rate = np.asarray(rate, np.float64)
    self.distortion = np.asarray(distortion, np.float64)
    self.effective_sample_size_per_image = np.asarray(
        effective_sample_size_per_image, np.float64)


def test_compare_with_exact_allows_the_monte_carlo_noise_of_d():
  exact = tfrd.LinearRDCurve(
      betas=np.array([0.1, 10.0]), rate=np.array([[1.0, 3.0], [20.0, 22.0]]),
      distortion=np.array([[50.0, 70.0], [10.0, 10.0]]),
      log_z=np.zeros((2, 2)))
  variance = np.array([[400.0, 400.0], [0.0, 0.0]])
  ess = np.full((2, 2), 4.0)
  stderr = np.sqrt(2 * 400.0 / 4.0) / 2  # 7.07 at the first point
  # D off by 3% + 3 s.e. at β = 0.1: outside a fixed 3%, inside 3% + 4 s.e.
  curve = _Curve([2.0, 21.0], [60.0 + 1.8 + 3 * stderr, 10.0], ess)
  comparison = tfrd.compare_with_exact(curve, exact, variance)
  np.testing.assert_allclose(comparison.distortion_mc_stderr, [stderr, 0.0])
  np.testing.assert_allclose(comparison.distortion_allowed,
                             [1.8 + 4 * stderr, 0.3])
  assert comparison.within_tolerance
  assert not tfrd.compare_with_exact(
      curve, exact, variance, distortion_tolerance_stderrs=0).within_tolerance
  # A rate error beyond 0.3 nats + 3% fails whatever the distortion.
  assert not tfrd.compare_with_exact(
      _Curve([2.0, 21.0 + 1.0], [60.0, 10.0], ess), exact,
      variance).within_tolerance


def _exact_curve(problem, betas, shift=0.0):
  """An RDCurve whose points are the exact ones of the linear problem (its
  rate moved by `shift` nats)."""
  exact = tfrd.linear_rate_distortion(problem.kernel, problem.bias,
                                      problem.data, betas, tfrd.SquaredError())
  return tfrd.RDCurve(betas, exact.rate + shift, exact.distortion,
                      exact.log_z - shift,
                      effective_sample_size_per_image=np.full_like(
                          exact.rate, 16.0))


def test_the_closed_form_of_the_weights_the_decoder_holds(
    small_linear_problem):
  problem = small_linear_problem
  betas = np.array([0.1, 1.0, 10.0])
  decoder = problem.keras_model()
  record, exact = linear_comparison.compare_with_closed_form(
      _exact_curve(problem, betas), decoder, problem.data,
      tfrd.SquaredError())
  assert record['within_tolerance'] is True
  assert record['beta'] == betas.tolist()
  assert record['max_rate_error_nats'] == pytest.approx(0.0, abs=1e-9)
  np.testing.assert_allclose(record['rate_exact'], exact.rate.mean(1))
  json.dumps(record)  # JSON as it is
  # One nat above the exact rate is beyond 0.3 nats + 3%, not beyond 1.5.
  curve = _exact_curve(problem, betas, shift=1.0)
  record, _ = linear_comparison.compare_with_closed_form(
      curve, decoder, problem.data, tfrd.SquaredError())
  assert record['within_tolerance'] is False
  assert record['max_rate_error_nats'] == pytest.approx(1.0)
  record, _ = linear_comparison.compare_with_closed_form(
      curve, decoder, problem.data, tfrd.SquaredError(),
      linear_comparison.Tolerances(rate_nats=1.5))
  assert record['within_tolerance'] is True


def test_fit_linear_decoder_is_probabilistic_pca():
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(50, 3, 4)).astype(np.float32)
  decoder, noise_scale = linear_comparison.fit_linear_decoder(images, 2)
  kernel, bias = linear_comparison.decoder_weights(decoder)
  assert kernel.dtype == np.float64 and kernel.shape == (2, 12)
  np.testing.assert_allclose(bias, images.reshape(50, -1).mean(0), rtol=1e-6)
  # The residual variance is the mean of the discarded eigenvalues.
  eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(
      images.reshape(50, -1).astype(np.float64), rowvar=False)))[::-1]
  assert noise_scale == pytest.approx(np.sqrt(eigenvalues[2:].mean()))


def _tiny_job(tmp_path, **fields):
  """apps.linear_vae on 2 MNIST test images with a schedule of seconds."""
  if not os.path.isdir(os.path.join(DATA_DIR, 'mnist')):
    pytest.skip(f'no MNIST files in {DATA_DIR} to fit the linear decoder.')
  job = linear_comparison.LinearVAEJob(
      latent_dim=4, num_train=300,
      images=pipeline_settings.DataSettings(num_images=2, data_dir=DATA_DIR),
      distortions=('mse',),
      schedule=tfrd.ScheduleSettings(num_intermediate=60, num_rd_points=4,
                                     beta_max=10.0, min_before_first=20,
                                     min_between=3),
      chains=tfrd.ChainSettings(num_chains=4, jit_compile=False,
                                hmc=tfrd.HMCSettings(num_leapfrog_steps=3)),
      output_dir=str(tmp_path / 'out'))
  return dataclasses.replace(job, **fields)


def test_validate_writes_compares_and_reports_each_distortion(tmp_path):
  job = _tiny_job(tmp_path, tolerances=linear_comparison.Tolerances(
      distortion_relative=0.0, distortion_stderrs=0.0))
  reported = []
  summary = linear_comparison.validate(
      job, on_result=lambda name, result: reported.append((name, result)))
  # A zero distortion tolerance cannot be met by a Monte Carlo estimate.
  assert summary['within_tolerance'] is False
  assert [name for name, _ in reported] == ['mse']
  assert reported[0][1] is summary['results']['mse']
  output_dir = tmp_path / 'out'
  with open(output_dir / 'linear_vae.json') as stream:
    assert json.load(stream)['results']['mse']['beta'] == (
        summary['results']['mse']['beta'])
  for name in ('linear_decoder.keras', 'test_images.npz', 'mse/curve.json',
               'mse/comparison.png'):
    assert (output_dir / name).is_file(), name
  assert summary['decoder_precision'] == 'float32'
  text = linear_comparison.format_result('mse', reported[0][1])
  assert text.startswith('\n== mse ==\n') and 'OUTSIDE TOLERANCE' in text
  assert linear_comparison.format_verdict(summary, job.output_dir).startswith(
      '\nlinear_vae: FAIL in ')


def test_results_of_the_same_names_are_refused_before_any_work(tmp_path):
  job = _tiny_job(tmp_path)
  os.makedirs(job.output_dir)
  user_file = os.path.join(job.output_dir, 'linear_vae.json')
  with open(user_file, 'w') as stream:
    stream.write('the user\'s')
  with pytest.raises(output_files.OutputError,
                     match='already holds linear_vae.json; pass --overwrite'):
    linear_comparison.validate(job)
  assert os.listdir(job.output_dir) == ['linear_vae.json']


def test_an_unknown_distortion_is_refused_before_any_work(tmp_path):
  job = _tiny_job(tmp_path, distortions=('mse', 'bernoulli_nll'))
  with pytest.raises(ValueError, match='accepts mse and gaussian_nll'):
    linear_comparison.validate(job)
  assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_the_app_maps_its_flags_to_the_job():
  """apps.linear_vae's flags, as a user gives them, become these settings
  (a fresh interpreter: the apps' flags share names)."""
  script = (
      'import sys\n'
      'from absl import flags\n'
      'import apps.linear_vae as app\n'
      'assert "tensorflow" not in sys.modules\n'
      'flags.FLAGS(["linear_vae", "--latent_dim=3", "--num_images=5", '
      '"--distortions=mse", "--noise_scale=0.5", "--num_chains=3", '
      '"--rate_tolerance_nats=0.7", "--decoder_precision=bfloat16", '
      '"--output_dir=elsewhere", "--preset=quick"])\n'
      'app.ais_flags.preset_from_flags()\n'
      'job = app.job_from_flags()\n'
      'print(job.latent_dim, job.images.num_images, job.distortions, '
      'job.noise_scale, job.chains.num_chains, job.tolerances.rate_nats, '
      'job.precision, job.output_dir, job.schedule.num_intermediate)\n')
  result = subprocess.run(
      [sys.executable, '-c', script], cwd=app_runner.REPO,
      env=dict(os.environ, PYTHONPATH=app_runner.REPO), capture_output=True,
      text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  # --preset=quick gives 10 images and 5000 distributions; flags given win.
  assert result.stdout.split() == [
      '3', '5', "('mse',)", '0.5', '3', '0.7', 'bfloat16', 'elsewhere',
      '5000']
