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
The linear decoder (one Keras Dense layer) runs in any of them; bfloat16
stores its weights rounded, and the exact curve is that of the
weights the decoder holds, so what is left of a deviation is the rounding
of the arithmetic, which is not linear: expect bfloat16 to fall outside the
tolerance at large β (`benchmarks/precision_study.py` measures it).

Writes, into --output_dir: the decoder (`linear_decoder.keras`), the test
images (`test_images.npz`, so `apps.rd_curve` can be run on the same
problem), for each distortion a subdirectory with the AIS curve files and
`comparison.png` (AIS and exact in one figure), and `linear_vae.json`. The
computation is `pipelines.linear_comparison`.
"""

import sys

from absl import flags

from apps import ais_flags
from apps import output_flags
from apps import precision_flags
from pipelines import jobs

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
# Listed in --help with the app's own flags.
flags.adopt_module_key_flags(output_flags)
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


def job_from_flags():
  """The `pipelines.linear_comparison.LinearVAEJob` the flags describe.

  Raises:
    ValueError: for impossible values, one line naming the flag.
  """
  # pylint: disable=g-import-not-at-top  (they load TensorFlow)
  from pipelines import linear_comparison
  from pipelines import settings
  # pylint: enable=g-import-not-at-top
  schedule = ais_flags.schedule_settings_from_flags()
  chains = ais_flags.chain_settings_from_flags()
  return linear_comparison.LinearVAEJob(
      latent_dim=FLAGS.latent_dim, num_train=FLAGS.num_train,
      images=settings.DataSettings(
          dataset='mnist', split='test', num_images=FLAGS.num_images,
          data_dir=FLAGS.data_dir, tfds_data_dir=FLAGS.tfds_data_dir),
      distortions=tuple(FLAGS.distortions),
      noise_scale=(FLAGS.noise_scale if FLAGS.noise_scale == 'ml'
                   else float(FLAGS.noise_scale)),
      tolerances=linear_comparison.Tolerances(
          rate_nats=FLAGS.rate_tolerance_nats,
          rate_relative=FLAGS.rate_tolerance_relative,
          distortion_relative=FLAGS.distortion_tolerance_relative,
          distortion_stderrs=FLAGS.distortion_tolerance_stderrs),
      schedule=schedule, chains=chains,
      **precision_flags.precision_from_flags(),
      output_dir=FLAGS.output_dir, overwrite=FLAGS.overwrite)


def main(argv):
  del argv  # jobs.run refused stray arguments.
  ais_flags.preset_from_flags()
  from pipelines import linear_comparison  # pylint: disable=g-import-not-at-top

  def validate_and_print():
    job = job_from_flags()
    summary = linear_comparison.validate(
        job, on_result=lambda name, result: sys.stdout.write(
            linear_comparison.format_result(name, result)))
    sys.stdout.write(linear_comparison.format_verdict(summary,
                                                      job.output_dir))
    return summary
  return jobs.run_job(
      'linear_vae', validate_and_print, linear_comparison.EXPECTED_ERRORS,
      exit_status=lambda summary: 0 if summary['within_tolerance'] else 1)


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
