r"""Does the default curve meet its accuracy target on decoders like users'?

    TFRD_DATA_DIR=../shared/data python -m benchmarks.deep_accuracy \
        --output_dir=runs/deep_accuracy          # hours on 2 CPU cores
    python -m benchmarks.deep_accuracy --quick --output_dir=runs/smoke

For each decoder it runs what `apps.rd_curve` runs, with every default
but one, before its curve: the BDMC check of the default schedule for a
curve on 20 images (`pipelines.bdmc_points.settle_schedule`: the lowest RD
β, β = 1 and β_max; a target of 1 nat, met when every point's mean gap
plus two standard errors is within it; a cap of 320,000 base
distributions), which lengthens the schedule until the target is met,
then measures the settled schedule again on fresh simulated images: the
verdict. The one change: 8 simulated images per measurement (`--check_images`),
where the app takes as many as fit in half the curve's gradients (at
least 4). The decoders:

- `gan10`, `vae10`: the shallow pretrained MNIST models of zoo/pretrained
  (one hidden layer of 1024, code 10);
- `mlp64`: a deep MLP (three hidden layers of 256, code 64), trained as a
  VAE for 3 epochs on 10,000 MNIST images by the pipeline of `apps.train
  --family=vae --code_size=64 --depth=deep --width=256 --epochs=3`;
- `wgan128`: a deep MLP (three hidden layers of 256, code 128) trained as
  a WGAN-GP the same way (`apps.train --family=wgan_gp --code_size=128
  --depth=deep --width=256 --epochs=3`): a GAN's posterior, with twice the
  code of `mlp64`;
- `dcgan100`: a DCGAN-style convolutional decoder (zoo's: dense to 4×4,
  three stride-2 transposed convolutions with batch norm, base width 8,
  code 100) on MNIST padded to 32×32, trained the same way (`apps.train
  --family=vae --architecture=dcgan --code_size=100 --width=8`). Base
  width 8 keeps one schedule's check within about half an hour on 2 CPU
  cores (width 16 took about 1.5 hours). On a machine without a GPU its
  chains run in graph mode rather than XLA, whose CPU convolutions are
  about 2.3 times slower (`benchmarks.feature_distortion`); the chains
  draw the same numbers either way (`tfrd.ais`), so only the time
  differs from the app's.

The chains use tfrd's default kernel, HMC with `tfrd.preconditioning`'s
Hessian mass matrix; --mass_matrix=identity runs plain HMC (tfrd's kernel
before issue 33) instead, and --num_intermediate starts the search from
another schedule. The files of a run carry its kernel and schedule in
their names (deep_accuracy_hessian_5000.json, mlp64_hessian_5000_search.json;
deep_accuracy.json for plain HMC from the default schedule).

Then it runs the curve itself (20 MNIST test images) on the settled
schedule, as the app would, and times it.

Prints, and writes into --output_dir (deep_accuracy.json, deep_accuracy.md),
one row per decoder and schedule tried: its length, the gap ± its standard
error at each β, the check's decoder gradients, the curve's on that
schedule and the wall time; then one row per decoder: the verdict on the
fresh images, and the decoder gradients and wall time to a certified
curve (search, verdict and curve). The trained models and each decoder's
finished attempts (NAME_search.json) are kept in --output_dir and reused by
a later run.
"""

import json
import os
import sys
import time

from absl import flags

from benchmarks import deep_decoders
from benchmarks import study_flags
from pipelines import jobs

FLAGS = flags.FLAGS

DECODERS = deep_decoders.DECODERS
Settings = deep_decoders.Settings

study_flags.define_output_flags(
    'deep_accuracy', 'deep_accuracy.json and .md and the trained models',
    'A smoke-sized run (a minute or two): tiny models and schedules; says '
    'nothing about accuracy.')
flags.adopt_module_key_flags(study_flags)
flags.DEFINE_list('decoders', list(DECODERS),
                  f'Decoders to check, of {", ".join(DECODERS)}.')
flags.DEFINE_enum('mass_matrix', 'hessian', ['identity', 'hessian'],
                  "The chains' HMC mass matrix (tfrd.HMCSettings.mass_matrix; "
                  "'hessian' is tfrd's default, 'identity' its kernel before "
                  'issue 33).')
flags.DEFINE_boolean('adapt_schedule', True,
                     "Re-space the search's schedules by thermodynamic "
                     "length (tfrd.AccuracySettings.adapt_schedule, tfrd's "
                     'default); --noadapt_schedule: the geometric schedule '
                     'of tfrd before issue 33.')
flags.DEFINE_integer('check_images', 8,
                     'Simulated images per BDMC measurement of the search '
                     'and of the verdict (at least 4).')
flags.DEFINE_integer('num_intermediate', None,
                     'Base schedule the search starts from (default: '
                     "tfrd's, 20000); its fills scale with it (min_before_"
                     'first N/5, min_between N/2000, at least 2).')
flags.DEFINE_string('data_dir', None,
                    'Directory with mnist/ raw files (default: '
                    '$TFRD_DATA_DIR).')


def settings_from_flags():
  unknown = sorted(set(FLAGS.decoders) - set(DECODERS))
  if unknown:
    raise ValueError(f'--decoders: unknown {", ".join(unknown)}; choose of '
                     f'{", ".join(DECODERS)}.')
  return Settings(output_dir=FLAGS.output_dir, decoders=tuple(FLAGS.decoders),
                  data_dir=FLAGS.data_dir, quick=FLAGS.quick,
                  mass_matrix=FLAGS.mass_matrix,
                  num_intermediate=FLAGS.num_intermediate,
                  check_images=None if FLAGS.quick else FLAGS.check_images,
                  adapt_schedule=FLAGS.adapt_schedule)


def check_decoder(settings, name):
  """The default search on decoder `name`; returns its JSON record."""
  # pylint: disable=g-import-not-at-top
  from adapters import priors
  from pipelines import bdmc_points
  from pipelines import curve_run
  # pylint: enable=g-import-not-at-top
  path = deep_decoders.decoder_path(settings, name)
  job = deep_decoders.curve_job(settings, name, path)
  decoder, _ = curve_run.load_decoder(job.model, job.distortion,
                                      'deep_accuracy')
  inputs = curve_run.CurveInputs(decoder, None, None, None, None, False,
                                 curve_run.make_distortion(job.distortion))
  prior = priors.prior_from_spec(job.model.prior, decoder.latent_dim)
  chains = job.chains._replace(decoder_dtype=decoder.dtype)
  start = time.time()
  os.makedirs(settings.output_dir, exist_ok=True)
  search = bdmc_points.settle_schedule(
      job, inputs, prior, chains, 'deep_accuracy',
      os.path.join(settings.output_dir,
                   f'{name}{settings.variant}_search.json'))
  search_time = time.time() - start
  curve = _run_curve(job, prior, chains, search)
  return {
      'decoder': name,
      'mass_matrix': settings.mass_matrix,
      'adapt_schedule': settings.adapt_schedule,
      # The speed measurement that re-spaced the schedules (its cost is in
      # search_decoder_gradients).
      'speed': None if search.speed is None else {
          key: value for key, value in search.speed.items()
          if key not in ('betas', 'variances')},
      'model': os.path.abspath(path),
      'latent_dim': int(decoder.latent_dim),
      'num_curve_images': job.data.num_images,
      'status': search.status,
      'settled_num_intermediate': search.schedule_settings.num_intermediate,
      'attempts': search.attempts,
      # The settled schedule on fresh simulated images (its cost is the
      # search's too).
      'verification': search.verification,
      'search_decoder_gradients': search.decoder_gradients,
      'wall_time_s': search_time,
      'curve': curve,
  }


def _run_curve(job, prior, chains, search):
  """The curve of `job`'s images on the settled schedule, as
  `apps.rd_curve` runs it after its check: its size, cost and time."""
  # pylint: disable=g-import-not-at-top
  import tfrd
  from pipelines import curve_run
  # pylint: enable=g-import-not-at-top
  inputs = curve_run.load_inputs(job, program='deep_accuracy')
  start = time.time()
  curve = curve_run.estimate(
      inputs.decoder, inputs.images, inputs.distortion, search.schedule,
      prior, chains, tfrd.RunControl(), {'title': 'curve'},
      program='deep_accuracy')
  return {'num_images': int(inputs.images.shape[0]),
          'num_intermediate': search.schedule_settings.num_intermediate,
          'decoder_gradients': int(curve.config['decoder_gradients_per_chain']) *
                               int(inputs.images.shape[0]) *
                               chains.num_chains,
          'rate_at_beta_max': float(curve.rate[-1]),
          'wall_time_s': time.time() - start}


def _label(record):
  """The decoder's name, its mass matrix when it is not the identity and
  its schedule when the search re-spaced it."""
  mass_matrix = record.get('mass_matrix', 'identity')
  return record['decoder'] + ('' if mass_matrix == 'identity' else
                              f', {mass_matrix} mass matrix') + (
                                  ', thermodynamic schedule'
                                  if record.get('adapt_schedule') else '')


def format_table(records):
  """The results as a markdown table."""
  import tfrd  # pylint: disable=g-import-not-at-top
  lines = ['| decoder | code | base schedule (transitions) | gap ± s.e. '
           '(nats) at each β | images | check gradients | curve gradients '
           '| time |', '| --- | --- | --- | --- | --- | --- | --- | --- |']
  for record in records:
    for attempt in record['attempts']:
      gaps = '; '.join(
          f'β={point["beta"]:.3g}: {tfrd.accuracy.gap_text(point, ".2f")}'
          for point in attempt['points'])
      lines.append(
          f'| {_label(record)} | {record["latent_dim"]} | '
          f'{attempt["num_intermediate"]:,} ({attempt["num_transitions"]:,})'
          + (f', fresh images from {attempt["first_image"]}'
             if attempt.get('first_image') else '') + ' '
          f'| {gaps} | {attempt["points"][0]["num_images"]} | '
          f'{attempt["decoder_gradients"]:.3g} | '
          f'{attempt["curve_decoder_gradients"]:.3g} | '
          f'{attempt["wall_time_s"] / 60:.0f} min |')
  lines += ['', '| decoder | settled base schedule | verdict: judged gap '
            '(mean + 2 s.e.) at each β, fresh images | search + verdict '
            'gradients | curve gradients | total gradients | search time '
            '| curve time |', '| --- | --- | --- | --- | --- | --- | --- | '
            '--- |']
  from tfrd import accuracy  # pylint: disable=g-import-not-at-top
  for record in records:
    verdict = record.get('verification') or record['attempts'][-1]
    judged = '; '.join(
        f'β={point["beta"]:.3g}: {accuracy.judged_gap(point):.2f}'
        for point in verdict['points'])
    met = 'met' if verdict.get('within_target') else 'NOT met'
    curve = record.get('curve') or {}
    search = record.get('search_decoder_gradients', 0)
    lines.append(
        f'| {_label(record)} | {record["settled_num_intermediate"]:,} | '
        f'{met} on {verdict["points"][0]["num_images"]} images: {judged} | '
        f'{search:.3g} | {curve.get("decoder_gradients", 0):.3g} | '
        f'{search + curve.get("decoder_gradients", 0):.3g} | '
        f'{record["wall_time_s"] / 60:.0f} min | '
        f'{curve.get("wall_time_s", 0) / 60:.0f} min |')
  return '\n'.join(lines) + '\n'


def run(settings):
  """Checks every decoder of `settings`; writes and returns the records."""
  from tfrd import files  # pylint: disable=g-import-not-at-top
  records = []
  json_path = os.path.join(settings.output_dir,
                           f'deep_accuracy{settings.variant}.json')
  for name in settings.decoders:
    sys.stderr.write(f'deep_accuracy: {name}\n')
    records.append(check_decoder(settings, name))
    os.makedirs(settings.output_dir, exist_ok=True)
    with files.atomic_write(json_path) as stream:
      json.dump({'quick': settings.quick, 'decoders': records}, stream,
                indent=1)
  table = format_table(records)
  with files.atomic_write(os.path.join(
      settings.output_dir, f'deep_accuracy{settings.variant}.md')) as stream:
    stream.write(table)
  print(table)
  return records


def main(argv):
  del argv  # jobs.run refused stray arguments.
  settings = settings_from_flags()
  return jobs.run_job('deep_accuracy', lambda: run(settings),
                      (ValueError, OSError))


if __name__ == '__main__':
  jobs.run(main)
