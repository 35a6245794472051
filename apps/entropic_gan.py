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
β = 1/λ. `docs/zoo.md` explains the difference.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

from adapters import datasets
from adapters import keras_decoder
from apps import output_flags
from pipelines import jobs
from pipelines import output_files
from pipelines import progress as progress_lib
import tfrd

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
flags.DEFINE_integer('num_chains', 16, 'AIS chains per image.')
flags.DEFINE_integer('num_intermediate', 1000,
                     'Intermediate distributions from β = 0 to 1/λ '
                     '(log-spaced).')
flags.DEFINE_integer('num_rd_points', 8,
                     'RD points recorded up to β = 1/λ (the last).')
flags.DEFINE_integer('leapfrog_steps', 10, 'Leapfrog steps per transition.')
flags.DEFINE_enum('step_size_mode', 'adaptive',
                  ['two_pass', 'adaptive', 'fixed'],
                  'HMC step sizes (see apps.rd_curve).')
flags.DEFINE_integer('seed', 0, 'Seed of AIS and of the prior samples.')
flags.DEFINE_string('data_dir', None,
                    'Directory with mnist/ raw files (default: '
                    '$TFRD_DATA_DIR).')
flags.DEFINE_string('tfds_data_dir', None, 'TFDS data directory.')
flags.DEFINE_string('output_dir', 'entropic_gan_output', 'Output directory.')
output_flags.define_overwrite_flag()


def _regularization(model_path):
  if FLAGS.entropic_lambda is not None:
    return float(FLAGS.entropic_lambda)
  from zoo import metadata  # pylint: disable=g-import-not-at-top
  document = metadata.read(model_path)
  if 'entropic_regularization' not in document:
    raise ValueError(f'{model_path} is a {document.get("family")} model, not '
                     f'an entropic GAN; give --entropic_lambda to use it '
                     f'anyway (with --critics).')
  return float(document['entropic_regularization'])


def _pretrained_path():
  from zoo import pretrained  # pylint: disable=g-import-not-at-top
  return pretrained.path(pretrained.ENTROPIC_GAN)


def _schedule(beta):
  """RD points up to exactly β = 1/λ on a log-spaced base schedule."""
  beta_min = min(1.0 / 12.0, beta / 10.0)
  rd_betas = tfrd.rd_point_betas(FLAGS.num_rd_points, beta, beta_min=beta_min,
                                 include_beta_one=False)
  base = tfrd.geometric_betas(FLAGS.num_intermediate, beta, beta_min)
  return tfrd.build_schedule(rd_betas, base, 0, 0)


def run():
  """Computes both estimates; returns the summary dict."""
  start = time.time()
  import keras  # pylint: disable=g-import-not-at-top
  from zoo import entropic_gan  # pylint: disable=g-import-not-at-top

  outputs = output_files.OutputFiles(
      'entropic_gan', FLAGS.output_dir,
      ('entropic_gan.json', 'entropic_gan.png', 'curve.json', 'curve.csv',
       'curve.npz', 'curve.png'), overwrite=FLAGS.overwrite)
  outputs.prepare()
  model_path = FLAGS.model or _pretrained_path()
  regularization = _regularization(model_path)
  beta = 1.0 / regularization
  critics_path = FLAGS.critics or model_path[:-len('.keras')] + (
      '_critics.keras')
  if not os.path.isfile(critics_path):
    raise ValueError(f'Critics not found: {critics_path} (apps.train '
                     f'--family=entropic_gan writes them beside the '
                     f'generator; or pass --critics).')
  decoder = keras_decoder.load_keras_decoder(model_path)
  critics = keras.saving.load_model(critics_path, compile=False)
  images = datasets.load_dataset('mnist', FLAGS.num_images, split='test',
                                 data_dir=FLAGS.data_dir,
                                 tfds_data_dir=FLAGS.tfds_data_dir,
                                 offset=FLAGS.image_offset)
  images, _ = keras_decoder.match_data_to_decoder(images,
                                                  decoder.output_shape)
  sys.stderr.write(
      f'entropic_gan: {model_path}, λ = {regularization:g} (β = {beta:g}); '
      f'{images.shape[0]} test images; surrogate with '
      f'{FLAGS.num_prior_samples} prior samples\n')
  surrogate = entropic_gan.surrogate_log_likelihood(
      decoder.model, critics, images, regularization,
      num_samples=FLAGS.num_prior_samples, seed=FLAGS.seed)
  schedule = _schedule(beta)
  curve = tfrd.estimate_rd_curve(
      decoder, images, tfrd.SquaredError(), schedule,
      latent_dim=decoder.latent_dim, num_chains=FLAGS.num_chains,
      num_leapfrog_steps=FLAGS.leapfrog_steps, seed=FLAGS.seed,
      step_size_mode=FLAGS.step_size_mode,
      image_indices=FLAGS.image_offset + np.arange(images.shape[0]),
      progress=progress_lib.ProgressPrinter(
          tfrd.passes.num_passes(FLAGS.step_size_mode)),
      config={'model': os.path.abspath(model_path),
              'title': f'{os.path.basename(model_path)}: AIS up to '
                       f'beta = 1/lambda = {beta:g}'})
  point = int(np.flatnonzero(np.isclose(curve.betas, beta))[-1])
  log_c = surrogate['log_normalizer']
  per_image = {
      'image_index': (FLAGS.image_offset + np.arange(images.shape[0])).tolist(),
      'ais_log_likelihood': (log_c + curve.log_z_per_image[point]).tolist(),
      'ais_rate': curve.rate_per_image[point].tolist(),
      'ais_beta_distortion': (beta * curve.distortion_per_image[point]
                              ).tolist(),
      'surrogate_log_likelihood': surrogate['surrogate'].tolist(),
      'surrogate_kl': surrogate['kl'].tolist(),
      'surrogate_beta_expected_loss': (beta * surrogate['expected_loss']
                                       ).tolist(),
      'surrogate_effective_sample_size': surrogate[
          'effective_sample_size'].tolist(),
      'importance_log_likelihood': surrogate[
          'importance_log_likelihood'].tolist(),
  }
  curve.save(FLAGS.output_dir)
  summary = {
      'model': os.path.abspath(model_path),
      'critics': os.path.abspath(critics_path),
      'entropic_lambda': regularization,
      'beta': beta,
      'log_normalizer': log_c,
      'num_prior_samples': FLAGS.num_prior_samples,
      'ais': {'num_chains': FLAGS.num_chains,
              'num_transitions': int(schedule.num_transitions),
              'leapfrog_steps': FLAGS.leapfrog_steps,
              'step_size_mode': FLAGS.step_size_mode},
      'per_image': per_image,
      'mean': {key: float(np.mean(values)) for key, values in
               per_image.items() if key != 'image_index'},
  }
  summary['wall_time_s'] = time.time() - start
  with outputs.open('entropic_gan.json') as f:
    json.dump(summary, f, indent=1)
  _plot(per_image, beta, outputs.path('entropic_gan.png'))
  _print(summary)
  return summary


def _plot(per_image, beta, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  indices = np.arange(len(per_image['image_index']))
  figure, axis = plt.subplots(figsize=(7, 4))
  for offset, (key, label) in zip(
      (-0.25, 0.0, 0.25),
      (('ais_log_likelihood', 'tfrd AIS: log C + log Z'),
       ('importance_log_likelihood', 'prior importance sampling'),
       ('surrogate_log_likelihood', 'entropic GAN surrogate'))):
    axis.bar(indices + offset, per_image[key], width=0.25, label=label)
  axis.set_xticks(indices, [str(i) for i in per_image['image_index']])
  axis.set_xlabel('MNIST test image')
  axis.set_ylabel('log-likelihood (nats)')
  axis.set_title(f'Entropic GAN likelihood at beta = 1/lambda = {beta:g}')
  values = np.concatenate([per_image[k] for k in (
      'ais_log_likelihood', 'importance_log_likelihood',
      'surrogate_log_likelihood')])
  margin = 0.1 * (values.max() - values.min() + 1.0)
  axis.set_ylim(values.min() - margin, values.max() + margin)
  axis.legend(fontsize=8)
  figure.tight_layout()
  tfrd.files.save_figure(figure, path, dpi=120)
  plt.close(figure)


def _print(summary):
  per_image = summary['per_image']
  print(f'λ = {summary["entropic_lambda"]:g}, β = 1/λ = {summary["beta"]:g}, '
        f'log C = {summary["log_normalizer"]:.2f} nats; all values in nats')
  print(f'{"image":>6} {"AIS":>10} {"R":>8} {"βD":>8} | {"surrogate":>10} '
        f'{"KL_w":>8} {"βE_w l":>8} {"ESS":>7} | {"IS":>10}')
  for row in zip(per_image['image_index'], per_image['ais_log_likelihood'],
                 per_image['ais_rate'], per_image['ais_beta_distortion'],
                 per_image['surrogate_log_likelihood'],
                 per_image['surrogate_kl'],
                 per_image['surrogate_beta_expected_loss'],
                 per_image['surrogate_effective_sample_size'],
                 per_image['importance_log_likelihood']):
    print('{:6d} {:10.2f} {:8.2f} {:8.2f} | {:10.2f} {:8.2f} {:8.2f} {:7.1f} '
          '| {:10.2f}'.format(*row))
  mean = summary['mean']
  print(f'mean: AIS {mean["ais_log_likelihood"]:.2f}, surrogate '
        f'{mean["surrogate_log_likelihood"]:.2f} (gap '
        f'{mean["ais_log_likelihood"] - mean["surrogate_log_likelihood"]:.2f})'
        f', IS {mean["importance_log_likelihood"]:.2f}; '
        f'{summary["wall_time_s"]:.0f} s; wrote '
        f'{os.path.join(FLAGS.output_dir, "entropic_gan.json")}')


def main(argv):
  if FLAGS.entropic_lambda is not None and not FLAGS.entropic_lambda > 0:
    raise app.UsageError('--entropic_lambda must be positive.')
  from zoo import metadata  # pylint: disable=g-import-not-at-top
  return jobs.run_job(
      'entropic_gan', run,
      (keras_decoder.ModelError, datasets.DatasetError,
       metadata.MetadataError, tfrd.DecoderOutputError, ValueError, OSError))


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
