r"""Validates the AIS estimator against the closed form of a linear VAE.

    python -m apps.linear_vae --output_dir=runs/linear_vae

Fits a linear Gaussian decoder x = Wz + b + ε, ε ~ N(0, σ²I), to MNIST by
maximum likelihood (probabilistic PCA, Tipping & Bishop 1999: the optimum a
linear VAE converges to), then estimates its rate-prior distortion curve with
AIS on test images and compares every point with the exact curve of appendix
D.3.1 (`tfrd.linear_rate_distortion`). Exits with status 1 when a point
deviates by more than the tolerance:

    |R_AIS - R_exact| <= rate_tolerance_nats + rate_tolerance_relative·R_exact
    |D_AIS - D_exact| <= distortion_tolerance_relative·D_exact
                         + distortion_tolerance_stderrs·σ_D

where σ_D is the Monte Carlo standard error of the image-mean D: at low β
the posterior is broad, one chain's distortion varies by several percent,
and 16 chains cannot pin D to 3%. It comes from the exact posterior
variance of the distortion, Var_q(d) = -∂D/∂β (the closed form,
differentiated numerically), over the effective number of chains.

--decoder_precision and --device are those of `apps.rd_curve`
(`apps.precision_flags`), recorded in linear_vae.json and each curve.json.
The linear decoder (one Keras Dense layer) runs in any of them; bfloat16 and
tf32_emulated store its weights rounded, and the exact curve is that of the
weights the decoder holds, so what is left of a deviation is the rounding
of the arithmetic, which is not linear: expect bfloat16 to fall outside the
tolerance at large β (`benchmarks/precision_study.py` measures it).

Writes, into --output_dir: the decoder (`linear_decoder.keras`), the test
images (`test_images.npz`, so `apps.rd_curve` can be run on the same
problem), for each distortion a subdirectory with the AIS curve files and
`comparison.png` (AIS and exact in one figure), and `linear_vae.json`.
"""

import json
import os
import sys
import time

from absl import flags
import numpy as np

from adapters import datasets
from adapters import keras_decoder
from apps import ais_flags
from apps import output_flags
from pipelines import jobs
from pipelines import output_files
from apps import precision_flags
from pipelines import progress as progress_lib
import tfrd
from zoo import linear_gaussian

FLAGS = flags.FLAGS

flags.DEFINE_integer('latent_dim', 10, 'Latent size of the linear decoder.')
flags.DEFINE_integer('num_train', 10000,
                     'MNIST training images used to fit the decoder.')
flags.DEFINE_integer('num_images', 20, 'MNIST test images to evaluate.')
flags.DEFINE_list('distortions', ['mse', 'gaussian_nll'],
                  'Distortions to validate: mse and/or gaussian_nll.')
flags.DEFINE_string('noise_scale', 'ml',
                    "σ of the Gaussian NLL: 'ml' (the fitted maximum-"
                    "likelihood value) or a number.")
flags.DEFINE_string('data_dir', None,
                    'Directory with mnist/ raw files (default: '
                    '$TFRD_DATA_DIR).')
flags.DEFINE_string('tfds_data_dir', None, 'TFDS data directory.')
flags.DEFINE_string('output_dir', 'linear_vae_output', 'Output directory.')
output_flags.define_overwrite_flag()
flags.DEFINE_float('rate_tolerance_nats', 0.3, 'Absolute rate tolerance.')
flags.DEFINE_float('rate_tolerance_relative', 0.03, 'Relative rate tolerance.')
flags.DEFINE_float('distortion_tolerance_relative', 0.03,
                   'Relative distortion tolerance.')
flags.DEFINE_float(
    'distortion_tolerance_stderrs', 4.0,
    'Added to the distortion tolerance: this many Monte Carlo standard '
    'errors of the image-mean D, from the exact posterior variance of the '
    'distortion and the effective sample size of the chains.')
ais_flags.define_ais_flags(num_intermediate=10000, num_rd_points=20,
                           distortion_flags=False)
precision_flags.define_precision_flags()
# Show the AIS and precision flags in --help, not only under --helpfull.
flags.adopt_module_key_flags(ais_flags)
flags.adopt_module_key_flags(precision_flags)


def compare(curve, exact, distortion_variance):
  """Per-point deviations and whether each is within the flags' tolerance.

  Args:
    curve: the AIS `RDCurve`.
    exact: the `LinearRDCurve` at the same betas.
    distortion_variance: [K, N] exact Var_q(d).

  Returns:
    A JSON-serializable dict of the curves, the largest errors and
    `within_tolerance`.
  """
  comparison = tfrd.compare_with_exact(
      curve, exact, distortion_variance,
      rate_tolerance_nats=FLAGS.rate_tolerance_nats,
      rate_tolerance_relative=FLAGS.rate_tolerance_relative,
      distortion_tolerance_relative=FLAGS.distortion_tolerance_relative,
      distortion_tolerance_stderrs=FLAGS.distortion_tolerance_stderrs)
  return {
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
      'within_tolerance': comparison.within_tolerance,
  }


def run():
  """Fits, estimates, compares; returns the summary dict."""
  start = time.time()
  ais_flags.check_flags()
  outputs = output_files.OutputFiles(
      'linear_vae', FLAGS.output_dir,
      ['linear_vae.json', 'linear_decoder.keras', 'test_images.npz'] +
      [os.path.join(name, file_name) for name in FLAGS.distortions
       for file_name in ('curve.json', 'curve.csv', 'curve.npz', 'curve.png',
                         'comparison.png')],
      overwrite=FLAGS.overwrite)
  outputs.prepare()
  train = datasets.load_dataset('mnist', FLAGS.num_train, split='train',
                                data_dir=FLAGS.data_dir,
                                tfds_data_dir=FLAGS.tfds_data_dir)
  test = datasets.load_dataset('mnist', FLAGS.num_images, split='test',
                               data_dir=FLAGS.data_dir,
                               tfds_data_dir=FLAGS.tfds_data_dir)
  kernel, bias, ml_scale = linear_gaussian.fit_linear_gaussian(
      train, FLAGS.latent_dim)
  decoder = linear_gaussian.make_linear_decoder(kernel, bias)
  decoder_path = outputs.save_keras_model('linear_decoder.keras', decoder)
  decoder, precision_config = precision_flags.apply_precision_flags(
      decoder, 'linear_vae')
  # The comparison uses the weights the decoder actually holds: float32, or
  # rounded to bfloat16 / TF32 by --decoder_precision.
  kernel32, bias32 = (np.asarray(w).astype(np.float64)
                      for w in decoder.get_weights())
  test = test.reshape(test.shape[0], -1)
  with outputs.open('test_images.npz', 'wb') as f:
    np.savez(f, x=test)
  noise_scale = (ml_scale if FLAGS.noise_scale == 'ml'
                 else float(FLAGS.noise_scale))
  schedule = ais_flags.schedule_from_flags()
  summary = {'latent_dim': FLAGS.latent_dim, 'num_train': FLAGS.num_train,
             'num_images': int(test.shape[0]),
             'noise_scale_ml': ml_scale, 'decoder': decoder_path,
             'num_transitions': schedule.num_transitions,
             **precision_config, 'results': {}}
  sys.stderr.write(
      f'linear_vae: fitted latent {FLAGS.latent_dim} decoder on '
      f'{train.shape[0]} images (ML noise scale {ml_scale:.4f}); '
      f'{schedule.num_transitions} transitions, {FLAGS.num_chains} chains, '
      f'{test.shape[0]} test images\n')
  for name in FLAGS.distortions:
    if name == 'mse':
      distortion = tfrd.SquaredError()
    elif name == 'gaussian_nll':
      distortion = tfrd.GaussianNLL(noise_scale)
    else:
      raise ValueError(f'--distortions accepts mse and gaussian_nll (the '
                       f'closed form covers those), got {name!r}.')
    curve = tfrd.estimate_rd_curve(
        decoder, test, distortion, schedule, latent_dim=FLAGS.latent_dim,
        progress=progress_lib.ProgressPrinter(
            tfrd.passes.num_passes(FLAGS.step_size_mode)),
        config={'title': f'linear VAE ({name})', 'label': 'AIS',
                **precision_config},
        **ais_flags.ais_kwargs_from_flags())
    exact = tfrd.linear_rate_distortion(kernel32, bias32, test, curve.betas,
                                        distortion)
    run_dir = os.path.join(FLAGS.output_dir, name)
    curve.save(run_dir)
    tfrd.plot_curves(
        {'exact (appendix D.3.1)': (exact.distortion.mean(1),
                                    exact.rate.mean(1), exact.betas),
         'AIS': curve},
        os.path.join(run_dir, 'comparison.png'),
        title=f'Linear VAE on MNIST, {name}: AIS vs closed form')
    result = compare(curve, exact, tfrd.linear_distortion_variance(
        kernel32, bias32, test, curve.betas, distortion))
    result['wall_time_s'] = curve.timing['ais_total_s']
    if curve.log_likelihood is not None:
      result['log_likelihood_ais'] = curve.log_likelihood
      result['log_likelihood_exact'] = float(
          exact.log_z[curve.betas == 1.0].mean())
    summary['results'][name] = result
    _print_result(name, result)
  summary['wall_time_s'] = time.time() - start
  summary['within_tolerance'] = all(
      r['within_tolerance'] for r in summary['results'].values())
  with outputs.open('linear_vae.json') as f:
    json.dump(summary, f, indent=1)
  return summary


def _print_result(name, result):
  print(f'\n== {name} ==')
  print(f'{"beta":>10} {"R exact":>9} {"R AIS":>9} {"D exact":>10} '
        f'{"D AIS":>10}')
  for row in zip(result['beta'], result['rate_exact'], result['rate_ais'],
                 result['distortion_exact'], result['distortion_ais']):
    print('{:10.4g} {:9.3f} {:9.3f} {:10.4f} {:10.4f}'.format(*row))
  print(f'largest rate error {result["max_rate_error_nats"]:.3f} nats '
        f'({result["max_rate_error_over_tolerance"]:.2f} of the tolerance); '
        f'largest distortion error '
        f'{100 * result["max_distortion_relative_error"]:.2f}% '
        f'({result["max_distortion_error_over_tolerance"]:.2f} of the '
        f'tolerance); mean rate error {result["mean_rate_error_nats"]:+.3f}')
  if 'log_likelihood_ais' in result:
    print(f'log-likelihood at beta = 1: AIS {result["log_likelihood_ais"]:.3f}'
          f', exact {result["log_likelihood_exact"]:.3f} nats')
  print('within tolerance' if result['within_tolerance']
        else 'OUTSIDE TOLERANCE')


def _validate():
  """Runs the comparison and prints the verdict; returns the summary."""
  summary = run()
  print(f'\nlinear_vae: {"PASS" if summary["within_tolerance"] else "FAIL"} '
        f'in {summary["wall_time_s"]:.0f} s; details in '
        f'{os.path.join(FLAGS.output_dir, "linear_vae.json")}')
  return summary


def main(argv):
  ais_flags.apply_preset()
  return jobs.run_job(
      'linear_vae',
      lambda: precision_flags.run_on_device_from_flags(_validate),
      (keras_decoder.ModelError, datasets.DatasetError,
       tfrd.DecoderOutputError, ValueError, OSError),
      exit_status=lambda summary: 0 if summary['within_tolerance'] else 1)


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
