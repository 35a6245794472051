r"""Entropic GAN surrogate likelihoods beside tfrd's AIS log Z at β = 1/λ.

    python -m apps.entropic_gan --output_dir=runs/entropic

evaluates the pretrained entropic GAN (`zoo.pretrained.ENTROPIC_GAN`, λ =
0.1) on 8 MNIST test images in about two minutes on 2 CPU cores; or train
your own and pass it:

    python -m apps.train --family=entropic_gan --entropic_lambda=0.1 \
        --num_train=20000 --epochs=5 --output=runs/egan.keras
    python -m apps.entropic_gan --model=runs/egan.keras --num_images=8 \
        --output_dir=runs/entropic

An entropic GAN (Balaji et al., 2019) with generator G, loss l (squared
error summed over pixels) and entropy weight λ defines the explicit model
f(y|x) = C exp(-l(y, G(x)) / λ), C = (πλ)^{-d/2}, and a surrogate
log-likelihood: an ELBO whose posterior is the coupling of its dual critics
(`zoo.entropic_gan`). For the same G and l, log f(y) = log C + log Z_β(y)
at β = 1/λ with Z_β(y) = ∫ p(x) exp(-β l(y, G(x))) dx, which tfrd estimates
by AIS together with R_β and D_β (log Z = -R - βD). For each of a handful of
MNIST test images this prints, in nats:

- `AIS`: log C + log Ẑ_AIS, tfrd's estimate (a stochastic lower bound, tight
  in practice), with its rate R and β·D;
- `surrogate`: the entropic GAN's surrogate log C - E_w l / λ - KL_w with
  the critic D2's coupling weights w over --num_prior_samples prior samples,
  with its KL_w and E_w l / λ;
- `IS`: log C + log mean_k exp(-l_k / λ) over the same prior samples, plain
  importance sampling (the surrogate's ceiling on those samples).

Writes --output_dir/entropic_gan.json (every number, per image),
entropic_gan.png, and the AIS curve files (curve.json, ...) of the run up to
β = 1/λ. `docs/zoo.md` explains the difference; the computation is
`pipelines.entropic_gan`.
"""

import sys

from absl import app
from absl import flags

from apps import output_flags
from pipelines import jobs
from pipelines import settings as pipeline_settings

FLAGS = flags.FLAGS

flags.DEFINE_string(
    'model', None,
    'Generator trained by apps.train --family=entropic_gan (its metadata '
    'gives λ; the critics are read from MODEL_critics.keras). Default: the '
    'pretrained zoo.pretrained.ENTROPIC_GAN.')
flags.DEFINE_string('critics', None,
                    'The critics .keras file (default: MODEL_critics.keras).')
flags.DEFINE_float('entropic_lambda', None,
                   "λ (default: the model's metadata).")
flags.DEFINE_integer('num_images', 8, 'MNIST test images (the first N).')
flags.DEFINE_integer('image_offset', 0, 'Index of the first test image.')
flags.DEFINE_integer('num_prior_samples', 10000,
                     'Prior samples K of the surrogate and IS estimates.')
_CHAINS = pipeline_settings.ENTROPIC_GAN_CHAINS
flags.DEFINE_integer('num_chains', _CHAINS.num_chains, 'AIS chains per image.')
flags.DEFINE_integer('num_intermediate', 1000,
                     'Intermediate distributions from β = 0 to 1/λ '
                     '(log-spaced).')
flags.DEFINE_integer('num_rd_points', 8,
                     'RD points recorded up to β = 1/λ (the last).')
flags.DEFINE_integer('leapfrog_steps', _CHAINS.hmc.num_leapfrog_steps,
                     'Leapfrog steps per transition.')
flags.DEFINE_enum('step_size_mode', _CHAINS.hmc.step_size_mode,
                  ['two_pass', 'adaptive', 'fixed'],
                  'HMC step sizes (see apps.rd_curve).')
flags.DEFINE_integer('seed', _CHAINS.seed,
                     'Seed of AIS and of the prior samples.')
flags.DEFINE_string('data_dir', None,
                    'Directory with mnist/ raw files (default: '
                    '$TFRD_DATA_DIR).')
flags.DEFINE_string('tfds_data_dir', None, 'TFDS data directory.')
flags.DEFINE_string('output_dir', 'entropic_gan_output', 'Output directory.')
output_flags.define_overwrite_flag()
# Listed in --help with the app's own flags.
flags.adopt_module_key_flags(output_flags)


def job_from_flags():
  """The `pipelines.entropic_gan.EntropicGANJob` the flags describe.

  Raises:
    app.UsageError: for a --entropic_lambda that is not positive.
  """
  if FLAGS.entropic_lambda is not None and not FLAGS.entropic_lambda > 0:
    raise app.UsageError('--entropic_lambda must be positive.')
  # Imported once the flags are checked: they load TensorFlow.
  # pylint: disable=g-import-not-at-top
  from pipelines import entropic_gan
  from pipelines import settings
  import tfrd
  # pylint: enable=g-import-not-at-top
  return entropic_gan.EntropicGANJob(
      model=FLAGS.model, critics=FLAGS.critics,
      entropic_lambda=FLAGS.entropic_lambda,
      images=settings.DataSettings(
          dataset='mnist', split='test', num_images=FLAGS.num_images,
          image_offset=FLAGS.image_offset, data_dir=FLAGS.data_dir,
          tfds_data_dir=FLAGS.tfds_data_dir),
      num_prior_samples=FLAGS.num_prior_samples,
      chains=tfrd.ChainSettings(
          num_chains=FLAGS.num_chains, seed=FLAGS.seed,
          hmc=tfrd.HMCSettings(num_leapfrog_steps=FLAGS.leapfrog_steps,
                               step_size_mode=FLAGS.step_size_mode)),
      num_intermediate=FLAGS.num_intermediate,
      num_rd_points=FLAGS.num_rd_points, output_dir=FLAGS.output_dir,
      overwrite=FLAGS.overwrite)


def main(argv):
  del argv  # jobs.run refused stray arguments.
  job = job_from_flags()
  from pipelines import entropic_gan  # pylint: disable=g-import-not-at-top

  def compare_and_print():
    summary = entropic_gan.compare_likelihoods(job)
    sys.stdout.write(entropic_gan.format_summary(summary, job.output_dir))
    return summary
  return jobs.run_job('entropic_gan', compare_and_print,
                      entropic_gan.EXPECTED_ERRORS)


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
