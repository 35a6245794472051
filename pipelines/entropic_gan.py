r"""An entropic GAN's surrogate likelihoods beside tfrd's AIS log Z at β = 1/λ.

Why a module: the comparison is one computation that `apps.entropic_gan`
runs from flags and a script can run from values; it lives here once.

An entropic GAN (Balaji et al., 2019) with generator G, loss l (squared
error summed over pixels) and entropy weight λ defines the explicit model
f(y|x) = C exp(-l(y, G(x)) / λ), C = (πλ)^{-d/2}, and a surrogate
log-likelihood: an ELBO whose posterior is the coupling of its dual critics
(`zoo.entropic_gan`). For the same G and l, log f(y) = log C + log Z_β(y)
at β = 1/λ with Z_β(y) = ∫ p(x) exp(-β l(y, G(x))) dx, which tfrd estimates
by AIS together with R_β and D_β (log Z = -R - βD). `compare_likelihoods`
computes, per test image, in nats:

- `AIS`: log C + log Ẑ_AIS, tfrd's estimate (a stochastic lower bound,
  tight in practice), with its rate R and β·D;
- `surrogate`: the entropic GAN's surrogate log C - E_w l / λ - KL_w with
  the critic D2's coupling weights w over the prior samples, with its KL_w
  and E_w l / λ;
- `IS`: log C + log mean_k exp(-l_k / λ) over the same prior samples, plain
  importance sampling (the surrogate's ceiling on those samples).

It writes OUTPUT_DIR/entropic_gan.json (every number, per image),
entropic_gan.png, and the AIS curve files (curve.json, ...) of the run up
to β = 1/λ. `docs/zoo.md` explains the difference.
"""

import dataclasses
import json
import os
import sys
import time

import numpy as np

from adapters import datasets
from adapters import keras_decoder
from pipelines import output_files
from pipelines import progress as progress_lib
from pipelines import settings as pipeline_settings
import tfrd
from zoo import metadata as metadata_lib

__all__ = ['EntropicGANJob', 'EXPECTED_ERRORS',
           'compare_likelihoods', 'format_summary']

# Errors that mean bad input (one line, exit status 2 in the app).
EXPECTED_ERRORS = (keras_decoder.ModelError, datasets.DatasetError,
                   metadata_lib.MetadataError, tfrd.DecoderOutputError,
                   ValueError, OSError)

_RESULT_FILES = ('entropic_gan.json', 'entropic_gan.png', 'curve.json',
                 'curve.csv', 'curve.npz', 'curve.png')


@dataclasses.dataclass(frozen=True)
class EntropicGANJob:
  """What `compare_likelihoods` computes and where it writes.

  Attributes:
    model: the generator, a .keras file written by apps.train
      --family=entropic_gan (None: the pretrained
      `zoo.pretrained.ENTROPIC_GAN`).
    critics: the critics' .keras file (None: MODEL stem + _critics.keras).
    entropic_lambda: λ (None: the model's metadata).
    images: the test images (`pipelines.settings.DataSettings`; MNIST).
    num_prior_samples: K, the prior samples of the surrogate and IS
      estimates.
    chains: the AIS chains (`tfrd.ChainSettings`); their seed also draws
      the prior samples.
    num_intermediate: intermediate distributions from β = 0 to 1/λ
      (log-spaced).
    num_rd_points: RD points recorded up to β = 1/λ (the last).
    output_dir: where the results go.
    overwrite: replace result files of the same names.
  """
  model: str = None
  critics: str = None
  entropic_lambda: float = None
  images: pipeline_settings.DataSettings = pipeline_settings.DataSettings(
      num_images=8)
  num_prior_samples: int = 10000
  chains: tfrd.ChainSettings = dataclasses.field(
      default_factory=lambda: pipeline_settings.ENTROPIC_GAN_CHAINS)
  num_intermediate: int = 1000
  num_rd_points: int = 8
  output_dir: str = 'entropic_gan_output'
  overwrite: bool = False


def _regularization(job, model_path):
  """λ: the job's, else the model's metadata's.

  Raises:
    ValueError: for a model that is not an entropic GAN and no λ given.
  """
  if job.entropic_lambda is not None:
    return float(job.entropic_lambda)
  document = metadata_lib.read(model_path)
  if 'entropic_regularization' not in document:
    raise ValueError(f'{model_path} is a {document.get("family")} model, not '
                     f'an entropic GAN; give --entropic_lambda to use it '
                     f'anyway (with --critics).')
  return float(document['entropic_regularization'])


def _schedule(beta, num_rd_points, num_intermediate):
  """RD points up to exactly β = 1/λ on a log-spaced base schedule."""
  beta_min = min(1.0 / 12.0, beta / 10.0)
  rd_betas = tfrd.rd_point_betas(num_rd_points, beta, beta_min=beta_min,
                                 include_beta_one=False)
  base = tfrd.geometric_betas(num_intermediate, beta, beta_min)
  return tfrd.build_schedule(rd_betas, base, 0, 0)


def compare_likelihoods(job):
  """Computes both estimates, writes them, and returns the summary.

  Args:
    job: an `EntropicGANJob`.

  Returns:
    The summary dict written to entropic_gan.json: the model, λ, β, log C,
    the AIS settings, 'per_image' values and their 'mean', 'wall_time_s'.

  Raises:
    One of `EXPECTED_ERRORS` for bad input, before any work where it can
    be told.
  """
  start = time.time()
  import keras  # pylint: disable=g-import-not-at-top
  from zoo import entropic_gan  # pylint: disable=g-import-not-at-top
  from zoo import pretrained  # pylint: disable=g-import-not-at-top

  outputs = output_files.OutputFiles('entropic_gan', job.output_dir,
                                     _RESULT_FILES, overwrite=job.overwrite)
  outputs.prepare()
  model_path = job.model or pretrained.path(pretrained.ENTROPIC_GAN)
  regularization = _regularization(job, model_path)
  beta = 1.0 / regularization
  critics_path = job.critics or model_path[:-len('.keras')] + (
      '_critics.keras')
  if not os.path.isfile(critics_path):
    raise ValueError(f'Critics not found: {critics_path} (apps.train '
                     f'--family=entropic_gan writes them beside the '
                     f'generator; or pass --critics).')
  decoder = keras_decoder.load_keras_decoder(model_path)
  critics = keras.saving.load_model(critics_path, compile=False)
  data = job.images
  images = datasets.load_dataset(data.dataset, data.num_images,
                                 split=data.split, data_dir=data.data_dir,
                                 tfds_data_dir=data.tfds_data_dir,
                                 offset=data.image_offset)
  images, _ = keras_decoder.match_data_to_decoder(images,
                                                  decoder.output_shape)
  sys.stderr.write(
      f'entropic_gan: {model_path}, λ = {regularization:g} (β = {beta:g}); '
      f'{images.shape[0]} test images; surrogate with '
      f'{job.num_prior_samples} prior samples\n')
  chains = job.chains
  surrogate = entropic_gan.surrogate_log_likelihood(
      decoder.model, critics, images, regularization,
      num_samples=job.num_prior_samples, seed=chains.seed)
  schedule = _schedule(beta, job.num_rd_points, job.num_intermediate)
  image_indices = data.image_offset + np.arange(images.shape[0])
  curve = tfrd.estimate_rd_curve(
      decoder, images, tfrd.SquaredError(), schedule,
      latent_dim=decoder.latent_dim, chains=chains,
      control=tfrd.RunControl(progress=progress_lib.ProgressPrinter(
          tfrd.passes.num_passes(chains.hmc.step_size_mode))),
      image_indices=image_indices,
      config={'model': os.path.abspath(model_path),
              'title': f'{os.path.basename(model_path)}: AIS up to '
                       f'beta = 1/lambda = {beta:g}'})
  point = int(np.flatnonzero(np.isclose(curve.betas, beta))[-1])
  log_c = surrogate['log_normalizer']
  per_image = {
      'image_index': image_indices.tolist(),
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
  curve.save(job.output_dir)
  summary = {
      'model': os.path.abspath(model_path),
      'critics': os.path.abspath(critics_path),
      'entropic_lambda': regularization,
      'beta': beta,
      'log_normalizer': log_c,
      'num_prior_samples': job.num_prior_samples,
      'ais': {'num_chains': chains.num_chains,
              'num_transitions': int(schedule.num_transitions),
              'leapfrog_steps': chains.hmc.num_leapfrog_steps,
              'step_size_mode': chains.hmc.step_size_mode},
      'per_image': per_image,
      'mean': {key: float(np.mean(values)) for key, values in
               per_image.items() if key != 'image_index'},
  }
  summary['wall_time_s'] = time.time() - start
  with outputs.open('entropic_gan.json') as stream:
    json.dump(summary, stream, indent=1)
  _plot(per_image, beta, outputs.path('entropic_gan.png'))
  return summary


def _plot(per_image, beta, path):
  """Bars of the three log-likelihoods of every image."""
  # pylint: disable=g-import-not-at-top
  from matplotlib import figure as figure_lib
  from matplotlib.backends import backend_agg
  # pylint: enable=g-import-not-at-top
  indices = np.arange(len(per_image['image_index']))
  # A figure of its own with an Agg canvas, as tfrd.plotting draws: pyplot's
  # global backend (a user's notebook) is left alone.
  figure = figure_lib.Figure(figsize=(7, 4))
  backend_agg.FigureCanvasAgg(figure)
  axis = figure.subplots()
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


def format_summary(summary, output_dir):
  """The table apps.entropic_gan prints: one row per image, then the means.

  Args:
    summary: what `compare_likelihoods` returned.
    output_dir: where it wrote entropic_gan.json (named in the last line).

  Returns:
    The text, ending in a newline.
  """
  per_image = summary['per_image']
  lines = [
      f'λ = {summary["entropic_lambda"]:g}, β = 1/λ = {summary["beta"]:g}, '
      f'log C = {summary["log_normalizer"]:.2f} nats; all values in nats',
      f'{"image":>6} {"AIS":>10} {"R":>8} {"βD":>8} | {"surrogate":>10} '
      f'{"KL_w":>8} {"βE_w l":>8} {"ESS":>7} | {"IS":>10}']
  for row in zip(per_image['image_index'], per_image['ais_log_likelihood'],
                 per_image['ais_rate'], per_image['ais_beta_distortion'],
                 per_image['surrogate_log_likelihood'],
                 per_image['surrogate_kl'],
                 per_image['surrogate_beta_expected_loss'],
                 per_image['surrogate_effective_sample_size'],
                 per_image['importance_log_likelihood']):
    lines.append('{:6d} {:10.2f} {:8.2f} {:8.2f} | {:10.2f} {:8.2f} {:8.2f} '
                 '{:7.1f} | {:10.2f}'.format(*row))
  mean = summary['mean']
  lines.append(
      f'mean: AIS {mean["ais_log_likelihood"]:.2f}, surrogate '
      f'{mean["surrogate_log_likelihood"]:.2f} (gap '
      f'{mean["ais_log_likelihood"] - mean["surrogate_log_likelihood"]:.2f})'
      f', IS {mean["importance_log_likelihood"]:.2f}; '
      f'{summary["wall_time_s"]:.0f} s; wrote '
      f'{os.path.join(output_dir, "entropic_gan.json")}')
  return '\n'.join(lines) + '\n'
