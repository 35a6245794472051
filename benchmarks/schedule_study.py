r"""Does re-spacing the schedule by thermodynamic length tighten AIS?

    TFRD_DATA_DIR=../shared/data python -m benchmarks.schedule_study \
        --decoder=mlp64 --num_intermediate=5000 \
        --output_dir=runs/deep_accuracy          # ~15 min on 2 cores
    python -m benchmarks.schedule_study --quick --output_dir=runs/smoke

For one decoder of `benchmarks.deep_accuracy` (trained there, or reused
from its --output_dir), with tfrd's default kernel (the Hessian mass
matrix, two passes), it

1. measures Var_β[d] along the geometric schedule of --num_intermediate
   once, as the schedule search does (`tfrd.accuracy.measure_speed`: one
   adaptive pass on 8 images simulated at the schedule's last β);
2. re-spaces that schedule for each of --base_shares
   (`tfrd.schedules.thermodynamic_schedule`: the same transitions and RD
   points; 1 keeps the geometric schedule, 0 places every transition by
   thermodynamic length; tfrd's search uses
   `tfrd.accuracy.SCHEDULE_BASE_SHARE`);
3. measures each schedule's BDMC gap at --points on the same --num_images
   simulated images (`tfrd.bdmc.bdmc_on_images`, the check's images and
   seeds), and its equilibrium log-weight variance by the measured speed
   (`tfrd.schedules.log_weight_variance`: the sum a schedule of equal
   length minimizes).

Every schedule has the same transitions: the top point's runs cost the
same on each, so its gaps compare schedules at equal cost (a lower point's
runs end where the schedule reaches it, sooner on a re-spaced one). Writes schedule_study_<decoder>_<N>.json and .md
into --output_dir and prints the table.
"""

import dataclasses
import json
import os
import sys
import time

from absl import flags
import numpy as np

from benchmarks import deep_decoders
from benchmarks import study_flags
from pipelines import jobs

FLAGS = flags.FLAGS

study_flags.define_output_flags(
    'schedule_study', 'its results and the trained decoder',
    'A smoke-sized run (about a minute): a tiny decoder and schedule; says '
    'nothing about accuracy.')
flags.adopt_module_key_flags(study_flags)
flags.DEFINE_enum('decoder', 'mlp64', list(deep_decoders.DECODERS),
                  'The decoder of benchmarks.deep_accuracy to study.')
flags.DEFINE_integer('num_intermediate', 5000,
                     'Base schedule (its fills scale with it as in '
                     'benchmarks.deep_accuracy).')
flags.DEFINE_list('base_shares', ['1', '0.25', '0'],
                  'Shares of the geometric schedule kept, one schedule '
                  'each (1: the geometric schedule itself).')
flags.DEFINE_list('points', ['1', '1000'],
                  'Inverse temperatures of the BDMC points, within the '
                  "curve's schedule (tfrd's default RD points up to 1000).")
flags.DEFINE_integer('num_images', 8, 'Simulated images per BDMC point.')
flags.DEFINE_string('data_dir', None,
                    'Directory with mnist/ raw files (default: '
                    '$TFRD_DATA_DIR).')


@dataclasses.dataclass(frozen=True)
class Settings:
  """What one run of the study measures.

  Attributes:
    output_dir: where the results (and a decoder it trains) go.
    decoder: a name of `deep_decoders.DECODERS`.
    num_intermediate: the base schedule's size.
    base_shares: the `thermodynamic_schedule` shares to compare.
    points: the BDMC points.
    num_images: simulated images per point.
    data_dir: MNIST's raw files (None: $TFRD_DATA_DIR).
    quick: a tiny decoder and schedule (a smoke test).
  """
  output_dir: str
  decoder: str = 'mlp64'
  num_intermediate: int = 5000
  base_shares: tuple = (1.0, 0.25, 0.0)
  points: tuple = (1.0, 1000.0)
  num_images: int = 8
  data_dir: str = None
  quick: bool = False


def settings_from_flags():
  try:
    shares = tuple(float(share) for share in FLAGS.base_shares)
    points = tuple(sorted(float(point) for point in FLAGS.points))
  except ValueError:
    raise ValueError('--base_shares and --points take numbers.') from None
  if not shares or not all(0.0 <= share <= 1.0 for share in shares):
    raise ValueError(f'--base_shares must lie in [0, 1], got '
                     f'{list(FLAGS.base_shares)}.')
  if not points or points[0] <= 0:
    raise ValueError(f'--points must be positive, got {list(FLAGS.points)}.')
  if FLAGS.num_images < 2 or FLAGS.num_intermediate < 10:
    raise ValueError('--num_images must be at least 2 and '
                     '--num_intermediate at least 10.')
  if FLAGS.quick and not FLAGS['points'].present:
    points = (1.0, 10.0)  # The quick decoder's schedule ends at 10.
  return Settings(output_dir=FLAGS.output_dir, decoder=FLAGS.decoder,
                  num_intermediate=FLAGS.num_intermediate,
                  base_shares=shares, points=points,
                  num_images=FLAGS.num_images, data_dir=FLAGS.data_dir,
                  quick=FLAGS.quick)


def _study_inputs(settings):
  """(decoder, distortion, prior, chains, geometric schedule) of the
  decoder's `benchmarks.deep_accuracy` job."""
  # pylint: disable=g-import-not-at-top
  from adapters import priors
  from pipelines import curve_run
  import tfrd
  # pylint: enable=g-import-not-at-top
  benchmark = deep_decoders.Settings(
      output_dir=settings.output_dir, decoders=(settings.decoder,),
      data_dir=settings.data_dir, quick=settings.quick,
      num_intermediate=settings.num_intermediate)
  job = deep_decoders.curve_job(
      benchmark, settings.decoder,
      deep_decoders.decoder_path(benchmark, settings.decoder))
  decoder, _ = curve_run.load_decoder(job.model, job.distortion,
                                      'schedule_study')
  prior = priors.prior_from_spec(job.model.prior, decoder.latent_dim)
  return (decoder, curve_run.make_distortion(job.distortion), prior,
          job.chains._replace(decoder_dtype=decoder.dtype),
          tfrd.schedule_from_settings(job.schedule))


def run(settings):
  """Measures every schedule of `settings`; writes and returns the record."""
  # pylint: disable=g-import-not-at-top
  import tfrd
  from tfrd import files
  # pylint: enable=g-import-not-at-top
  decoder, distortion, prior, chains, geometric = _study_inputs(settings)
  sys.stderr.write(f'schedule_study: measuring the speed of '
                   f'{settings.decoder}\'s schedule\n')
  speed = tfrd.accuracy.measure_speed(
      decoder, distortion, geometric, prior, chains,
      # Images the BDMC points below do not use.
      settings.num_images + np.arange(8))
  rows = []
  for share in settings.base_shares:
    schedule = tfrd.schedules.thermodynamic_schedule(
        geometric, speed['betas'], speed['variances'], share)
    sys.stderr.write(f'schedule_study: BDMC with {share:g} of the '
                     f'geometric schedule kept\n')
    start = time.time()
    # The curve's schedule, re-spaced, truncated at each point (a point
    # between its RD points becomes one more temperature of it).
    results = tfrd.bdmc.bdmc_on_images(
        decoder, distortion, settings.points, np.arange(settings.num_images),
        prior, tfrd.accuracy.schedule_holding(schedule, settings.points),
        chains)
    rows.append({
        'base_share': share,
        'log_weight_variance': tfrd.schedules.log_weight_variance(
            schedule, speed['betas'], speed['variances']),
        'share_below_first_point': float(np.mean(
            schedule.betas[1:] < settings.points[0])),
        'share_above_tenth_of_top': float(np.mean(
            schedule.betas[1:] > settings.points[-1] / 10)),
        'points': [{'beta': float(result.beta),
                    'mean_gap': float(result.mean_gap),
                    'gap_stderr': result.gap_stderr,
                    'gaps': [float(gap) for gap in result.gap],
                    'decoder_gradients': int(
                        result.num_decoder_gradients * settings.num_images *
                        chains.num_chains)}
                   for result in results],
        'decoder_gradients': int(sum(
            result.num_decoder_gradients * settings.num_images *
            chains.num_chains for result in results)),
        'wall_time_s': time.time() - start,
    })
  record = {
      'decoder': settings.decoder, 'quick': settings.quick,
      'num_intermediate': settings.num_intermediate,
      'num_transitions': int(geometric.num_transitions),
      'num_images': settings.num_images,
      'speed': speed,
      'rows': rows,
  }
  name = f'schedule_study_{settings.decoder}_{settings.num_intermediate}'
  os.makedirs(settings.output_dir, exist_ok=True)
  with files.atomic_write(os.path.join(settings.output_dir,
                                       name + '.json')) as stream:
    json.dump(record, stream, indent=1)
  table = format_table(record)
  with files.atomic_write(os.path.join(settings.output_dir,
                                       name + '.md')) as stream:
    stream.write(table)
  print(table)
  return record


def format_table(record):
  """The study as a markdown table: one row per schedule."""
  import tfrd  # pylint: disable=g-import-not-at-top
  betas = [point['beta'] for point in record['rows'][0]['points']]
  header = (['kept of the geometric schedule', 'equilibrium log-weight '
             'variance', 'transitions below the first point',
             'transitions in the top decade'] +
            [f'gap ± s.e. at β = {beta:g}' for beta in betas] +
            ['decoder gradients'])
  lines = ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
  for row in record['rows']:
    gaps = [tfrd.accuracy.gap_text(point, '.2f') for point in row['points']]
    lines.append('| ' + ' | '.join(
        [f'{row["base_share"]:g}', f'{row["log_weight_variance"]:.3g}',
         f'{row["share_below_first_point"]:.2f}',
         f'{row["share_above_tenth_of_top"]:.2f}'] + gaps +
        [f'{row["decoder_gradients"]:.3g}']) + ' |')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv  # jobs.run refused stray arguments.
  settings = settings_from_flags()
  return jobs.run_job('schedule_study', lambda: run(settings),
                      (ValueError, OSError))


if __name__ == '__main__':
  jobs.run(main)
