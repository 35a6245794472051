r"""The AIS estimator against the closed form of a linear VAE, on MNIST.

Why a module: the linear decoder is tfrd's end-to-end oracle on real data.
`apps.linear_vae` validates the estimator with it, `apps.reproduce`
(`pipelines.reproduce`, Fig. 7) draws and judges the same comparison, and
benchmarks and users' scripts run it too. The steps live here once:

    fit_linear_decoder ─> (the AIS curve) ─> compare_with_closed_form
                                             (closed_form: the exact curve)

`fit_linear_decoder` fits x = Wz + b + ε, ε ~ N(0, σ²I), by maximum
likelihood (probabilistic PCA, Tipping & Bishop 1999: the optimum a linear
VAE converges to). `compare_with_closed_form` compares every point of an
AIS curve with the exact curve of appendix D.3.1
(`tfrd.linear_rate_distortion`) of the weights the decoder holds, within

    |R_AIS - R_exact| <= rate_nats + rate_relative·R_exact
    |D_AIS - D_exact| <= distortion_relative·D_exact
                         + distortion_stderrs·σ_D

where σ_D is the Monte Carlo standard error of the image-mean D: at low β
the posterior is broad, one chain's distortion varies by several percent,
and 16 chains cannot pin D to 3%. It comes from the exact posterior variance
of the distortion, Var_q(d) = -∂D/∂β (the closed form, differentiated
numerically), over the effective number of chains.

`validate(job)` is `apps.linear_vae`: fit, estimate each distortion's curve,
compare, write.
"""

import dataclasses
import json
import os
import sys
import time

import numpy as np

from adapters import datasets
from adapters import keras_decoder
from pipelines import devices
from pipelines import output_files
from pipelines import progress as progress_lib
from pipelines import settings as pipeline_settings
import tfrd
from zoo import linear_gaussian

__all__ = ['Tolerances', 'LinearVAEJob', 'DISTORTIONS', 'EXPECTED_ERRORS',
           'fit_linear_decoder', 'decoder_weights', 'make_distortion',
           'closed_form', 'compare_with_closed_form', 'validate',
           'format_result', 'format_verdict']

# The distortions whose curve has a closed form.
DISTORTIONS = ('mse', 'gaussian_nll')

# Errors that mean bad input (one line, exit status 2 in the app).
EXPECTED_ERRORS = (keras_decoder.ModelError, datasets.DatasetError,
                   tfrd.DecoderOutputError, ValueError, OSError)

_CURVE_FILES = ('curve.json', 'curve.csv', 'curve.npz', 'curve.png',
                'comparison.png')


@dataclasses.dataclass(frozen=True)
class Tolerances:
  """How far an AIS curve may be from the closed form (module docstring);
  the defaults are `tfrd.compare_with_exact`'s."""
  rate_nats: float = 0.3
  rate_relative: float = 0.03
  distortion_relative: float = 0.03
  distortion_stderrs: float = 4.0


@dataclasses.dataclass(frozen=True)
class LinearVAEJob:
  """What `validate` fits, estimates, compares and writes.

  Attributes:
    latent_dim: the linear decoder's latent size.
    num_train: MNIST training images the decoder is fitted to.
    images: the MNIST test images evaluated (`DataSettings`: num_images,
      data_dir and tfds_data_dir, which the training images share).
    distortions: names among `DISTORTIONS`, one curve each.
    noise_scale: σ of the Gaussian NLL: 'ml' (the fitted maximum-likelihood
      value) or a number.
    tolerances: `Tolerances`.
    schedule: the AIS schedule (`tfrd.ScheduleSettings`).
    chains: the AIS chains (`tfrd.ChainSettings`).
    precision: what the decoder computes in
      (`adapters.precision.PRECISIONS`; see `pipelines.devices`).
    device: None (TensorFlow's placement) or a device such as '/CPU:0'.
    output_dir: where the results go.
    overwrite: replace result files of the same names.
  """
  latent_dim: int = 10
  num_train: int = 10000
  images: pipeline_settings.DataSettings = pipeline_settings.DataSettings()
  distortions: tuple = DISTORTIONS
  noise_scale: object = 'ml'
  tolerances: Tolerances = Tolerances()
  schedule: tfrd.ScheduleSettings = tfrd.ScheduleSettings(
      num_intermediate=10000, num_rd_points=20)
  chains: tfrd.ChainSettings = tfrd.ChainSettings()
  precision: str = 'float32'
  device: str = None
  output_dir: str = 'linear_vae_output'
  overwrite: bool = False


def fit_linear_decoder(train_images, latent_dim):
  """The maximum-likelihood linear Gaussian decoder of the images.

  Args:
    train_images: [N, ...] training images.
    latent_dim: D.

  Returns:
    (decoder, noise_scale_ml): a Keras 3 model z -> z·W + b (one Dense
    layer, float32 weights) and the fitted σ.
  """
  kernel, bias, noise_scale = linear_gaussian.fit_linear_gaussian(
      train_images, latent_dim)
  return linear_gaussian.make_linear_decoder(kernel, bias), float(noise_scale)


def decoder_weights(decoder):
  """(kernel [D, E], bias [E]) that the linear decoder holds, as float64:
  float32, or rounded to bfloat16 / TF32 by its precision."""
  kernel, bias = (np.asarray(weights).astype(np.float64)
                  for weights in decoder.get_weights())
  return kernel, bias


def make_distortion(name, noise_scale):
  """The `tfrd.Distortion` named, among `DISTORTIONS`.

  Raises:
    ValueError: for a distortion without a closed form.
  """
  if name == 'mse':
    return tfrd.SquaredError()
  if name == 'gaussian_nll':
    return tfrd.GaussianNLL(noise_scale)
  raise ValueError(f'--distortions accepts mse and gaussian_nll (the '
                   f'closed form covers those), got {name!r}.')


def closed_form(decoder, images, betas, distortion):
  """The exact curve of the weights the decoder holds, and its variance.

  Args:
    decoder: the linear decoder (`get_weights()` gives kernel and bias).
    images: [N, E] images, flat.
    betas: [P] inverse temperatures (an AIS curve's `betas`).
    distortion: `tfrd.SquaredError` or `tfrd.GaussianNLL`.

  Returns:
    (exact, variance): the `tfrd.LinearRDCurve` at `betas`, and the exact
    posterior variance of the distortion, [P, N]
    (`tfrd.linear_distortion_variance`), which `tfrd.compare_with_exact`
    turns into the Monte Carlo allowance.
  """
  kernel, bias = decoder_weights(decoder)
  return (tfrd.linear_rate_distortion(kernel, bias, images, betas,
                                      distortion),
          tfrd.linear_distortion_variance(kernel, bias, images, betas,
                                          distortion))


def compare_with_closed_form(curve, decoder, images, distortion,
                             tolerances=Tolerances()):
  """An AIS curve against the exact curve of the decoder's weights.

  Args:
    curve: the AIS `tfrd.RDCurve`.
    decoder: the linear decoder it was estimated with (`get_weights()`
      gives the kernel and bias).
    images: [N, E] the curve's images, flat.
    distortion: its `tfrd.SquaredError` or `tfrd.GaussianNLL`.
    tolerances: `Tolerances`.

  Returns:
    (record, exact): a JSON-serializable dict ('beta', 'rate_exact',
    'rate_ais', 'distortion_exact', 'distortion_ais',
    'distortion_mc_stderr', 'max_rate_error_nats',
    'max_rate_error_over_tolerance', 'max_distortion_relative_error',
    'max_distortion_error_over_tolerance', 'mean_rate_error_nats',
    'within_tolerance'), and the exact `tfrd.LinearRDCurve` at the curve's
    betas.
  """
  exact, variance = closed_form(decoder, images, curve.betas, distortion)
  comparison = tfrd.compare_with_exact(
      curve, exact, variance, rate_tolerance_nats=tolerances.rate_nats,
      rate_tolerance_relative=tolerances.rate_relative,
      distortion_tolerance_relative=tolerances.distortion_relative,
      distortion_tolerance_stderrs=tolerances.distortion_stderrs)
  record = {
      'distortion_mc_stderr': comparison.distortion_mc_stderr.tolist(),
      'beta': curve.betas.tolist(),
      'rate_exact': comparison.rate_exact.tolist(),
      'rate_ais': curve.rate.tolist(),
      'distortion_exact': comparison.distortion_exact.tolist(),
      'distortion_ais': curve.distortion.tolist(),
      'max_rate_error_nats': float(np.max(np.abs(comparison.rate_error))),
      'max_rate_error_over_tolerance': float(
          np.max(comparison.rate_error_over_tolerance)),
      'max_distortion_relative_error': float(np.max(
          np.abs(comparison.distortion_error) /
          np.abs(comparison.distortion_exact))),
      'max_distortion_error_over_tolerance': float(
          np.max(comparison.distortion_error_over_tolerance)),
      'mean_rate_error_nats': float(np.mean(comparison.rate_error)),
      'within_tolerance': bool(comparison.within_tolerance),
  }
  return record, exact


def validate(job, on_result=None):
  """apps.linear_vae: fits, estimates and compares every distortion.

  Writes, into `job.output_dir`: the decoder (`linear_decoder.keras`), the
  test images (`test_images.npz`, so `apps.rd_curve` can be run on the same
  problem), for each distortion a subdirectory with the AIS curve files and
  `comparison.png` (AIS and exact in one figure), and `linear_vae.json`.
  Everything runs on `job.device`.

  Args:
    job: a `LinearVAEJob`.
    on_result: optional callable (distortion name, record) called as each
      distortion's comparison is ready (apps.linear_vae prints it).

  Returns:
    The summary written to linear_vae.json; its 'within_tolerance' is the
    verdict.

  Raises:
    One of `EXPECTED_ERRORS` for bad input, before any work where it can
    be told.
  """
  for name in job.distortions:
    make_distortion(name, 1.0)  # Refuses an unknown name before any work.
  device = (None if job.device is None else
            devices.canonical_device(job.device))
  return devices.run_on_device(device, lambda: _validate(job, on_result))


def _validate(job, on_result):
  start = time.time()
  outputs = output_files.OutputFiles(
      'linear_vae', job.output_dir,
      ['linear_vae.json', 'linear_decoder.keras', 'test_images.npz'] +
      [os.path.join(name, file_name) for name in job.distortions
       for file_name in _CURVE_FILES],
      overwrite=job.overwrite)
  outputs.prepare()
  data = job.images
  train = datasets.load_dataset('mnist', job.num_train, split='train',
                                data_dir=data.data_dir,
                                tfds_data_dir=data.tfds_data_dir)
  test = datasets.load_dataset('mnist', data.num_images, split='test',
                               data_dir=data.data_dir,
                               tfds_data_dir=data.tfds_data_dir)
  decoder, ml_scale = fit_linear_decoder(train, job.latent_dim)
  decoder_path = outputs.save_keras_model('linear_decoder.keras', decoder)
  # The comparison uses the weights the decoder holds after this: float32,
  # or rounded to bfloat16 / TF32 by the precision.
  decoder, precision_config = devices.apply_precision(
      decoder, job.precision, job.device, 'linear_vae')
  test = test.reshape(test.shape[0], -1)
  with outputs.open('test_images.npz', 'wb') as stream:
    np.savez(stream, x=test)
  noise_scale = ml_scale if job.noise_scale == 'ml' else float(
      job.noise_scale)
  schedule = tfrd.schedule_from_settings(job.schedule)
  chains = job.chains
  summary = {'latent_dim': job.latent_dim, 'num_train': job.num_train,
             'num_images': int(test.shape[0]),
             'noise_scale_ml': ml_scale, 'decoder': decoder_path,
             'num_transitions': schedule.num_transitions,
             **precision_config, 'results': {}}
  sys.stderr.write(
      f'linear_vae: fitted latent {job.latent_dim} decoder on '
      f'{train.shape[0]} images (ML noise scale {ml_scale:.4f}); '
      f'{schedule.num_transitions} transitions, {chains.num_chains} chains, '
      f'{test.shape[0]} test images\n')
  for name in job.distortions:
    distortion = make_distortion(name, noise_scale)
    curve = tfrd.estimate_rd_curve(
        decoder, test, distortion, schedule, latent_dim=job.latent_dim,
        chains=chains,
        control=tfrd.RunControl(progress=progress_lib.ProgressPrinter(
            tfrd.passes.num_passes(chains.hmc.step_size_mode))),
        config={'title': f'linear VAE ({name})', 'label': 'AIS',
                **precision_config})
    result, exact = compare_with_closed_form(curve, decoder, test,
                                             distortion, job.tolerances)
    run_dir = os.path.join(job.output_dir, name)
    curve.save(run_dir)
    tfrd.plot_curves(
        {'exact (appendix D.3.1)': (exact.distortion.mean(1),
                                    exact.rate.mean(1), exact.betas),
         'AIS': curve},
        os.path.join(run_dir, 'comparison.png'),
        title=f'Linear VAE on MNIST, {name}: AIS vs closed form')
    result['wall_time_s'] = curve.timing['ais_total_s']
    if curve.log_likelihood is not None:  # An NLL distortion, β = 1.
      result['log_likelihood_ais'] = curve.log_likelihood
      result['log_likelihood_exact'] = float(
          exact.log_z[curve.betas == 1.0].mean())
    summary['results'][name] = result
    if on_result is not None:
      on_result(name, result)
  summary['wall_time_s'] = time.time() - start
  summary['within_tolerance'] = all(
      result['within_tolerance'] for result in summary['results'].values())
  with outputs.open('linear_vae.json') as stream:
    json.dump(summary, stream, indent=1)
  return summary


def format_result(name, result):
  """The table of one distortion's comparison, as apps.linear_vae prints it
  (starting with a blank line, ending in a newline)."""
  lines = ['', f'== {name} ==',
           f'{"beta":>10} {"R exact":>9} {"R AIS":>9} {"D exact":>10} '
           f'{"D AIS":>10}']
  for row in zip(result['beta'], result['rate_exact'], result['rate_ais'],
                 result['distortion_exact'], result['distortion_ais']):
    lines.append('{:10.4g} {:9.3f} {:9.3f} {:10.4f} {:10.4f}'.format(*row))
  lines.append(
      f'largest rate error {result["max_rate_error_nats"]:.3f} nats '
      f'({result["max_rate_error_over_tolerance"]:.2f} of the tolerance); '
      f'largest distortion error '
      f'{100 * result["max_distortion_relative_error"]:.2f}% '
      f'({result["max_distortion_error_over_tolerance"]:.2f} of the '
      f'tolerance); mean rate error {result["mean_rate_error_nats"]:+.3f}')
  if 'log_likelihood_ais' in result:
    lines.append(
        f'log-likelihood at beta = 1: AIS {result["log_likelihood_ais"]:.3f}'
        f', exact {result["log_likelihood_exact"]:.3f} nats')
  lines.append('within tolerance' if result['within_tolerance']
               else 'OUTSIDE TOLERANCE')
  return '\n'.join(lines) + '\n'


def format_verdict(summary, output_dir):
  """The last lines apps.linear_vae prints: PASS or FAIL, time, where the
  details are."""
  return (f'\nlinear_vae: {"PASS" if summary["within_tolerance"] else "FAIL"}'
          f' in {summary["wall_time_s"]:.0f} s; details in '
          f'{os.path.join(output_dir, "linear_vae.json")}\n')
