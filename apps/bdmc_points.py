"""`apps.rd_curve --bdmc_points`: BDMC gaps at points of the curve just run.

After the curve is estimated and written, for every β of --bdmc_points this
simulates images from the model at β (`tfrd.bdmc.simulate_data`) and runs
forward AIS from the prior to β and reverse AIS from the generating latents
back to the prior (`tfrd.bdmc.bdmc_at_points`), along the curve's own
schedule truncated at β, with the curve's chains, HMC settings and seed. The
BDMC gap, upper minus lower bound on log Z_β of the simulated data (paper
§2.1, appendix D.3.2, Fig. 9), bounds the error of the curve's log Ẑ, hence
of its rate, at β.

The gaps go into curve.json's `bdmc` field (`tfrd.RDCurve.bdmc`), one dict
per point, rewritten after every point so an interrupted BDMC loses only the
point it was running; curve.png shows them as error bars. The curve itself
is written before any BDMC work, so it is never lost to one. `--resume` of a
finished run measures the points curve.json does not hold yet
(`apps.rd_curve._add_missing_bdmc`).

Everything the flags say is checked in `points_from_flags` before any work.
"""

import math
import sys
import time

from absl import flags
import numpy as np

from adapters import priors
from apps import ais_flags
from pipelines import jobs
from pipelines import progress as progress_lib
import tfrd
from tfrd import bdmc as bdmc_lib

FLAGS = flags.FLAGS

# Distortions that have no exactly sampled channel at any β (tfrd.bdmc).
_UNSIMULABLE = ('ssim', 'features')


def define_flags():
  """Defines --bdmc_points and --bdmc_num_images (call once, from the app)."""
  flags.DEFINE_list(
      'bdmc_points', [],
      'Inverse temperatures at which to measure the BDMC gap of the curve '
      'after it is estimated, e.g. 1,100 (default: none). Each must lie in '
      '(0, largest beta of the schedule]; Bernoulli NLL and '
      '--gaussian_scale=decoder allow only 1. Cost: a point at beta costs '
      'about two runs of the schedule up to beta (forward AIS with the '
      'curve\'s step-size passes, then one reverse pass) on '
      '--bdmc_num_images simulated images: with the default two-pass step '
      'sizes 1.5 times what the curve spent to reach beta on as many images. '
      'The gaps go into curve.json (field "bdmc") and curve.png.')
  flags.DEFINE_integer(
      'bdmc_num_images', None,
      'Images simulated from the model at each --bdmc_points beta (default: '
      'as many as the curve\'s images).')


def points_from_flags(schedule):
  """The --bdmc_points betas, checked against the curve's schedule.

  Call before any work: every refusal is one clear line.

  Args:
    schedule: the curve's `AnnealingSchedule`.

  Returns:
    Increasing float64 array of betas (empty when BDMC is off), each one of
    the schedule's own betas when it is within 1e-9 of one.

  Raises:
    ValueError: for non-numbers, betas that are not positive and finite or
      lie beyond the schedule, a distortion that cannot simulate data at a
      beta, or a non-positive --bdmc_num_images.
  """
  if FLAGS.bdmc_num_images is not None and FLAGS.bdmc_num_images < 1:
    raise ValueError(f'--bdmc_num_images must be positive, got '
                     f'{FLAGS.bdmc_num_images}.')
  if not FLAGS.bdmc_points:
    return np.zeros([0])
  try:
    points = sorted({float(value) for value in FLAGS.bdmc_points})
  except ValueError:
    raise ValueError(f'--bdmc_points must be numbers, got '
                     f'{",".join(FLAGS.bdmc_points)}.') from None
  beta_max = float(schedule.betas[-1])
  if not all(math.isfinite(beta) and 0 < beta <= beta_max * (1 + 1e-12)
             for beta in points):
    raise ValueError(
        f'--bdmc_points must be positive and at most {beta_max:g} (the '
        f'largest beta of the curve\'s schedule), got '
        f'{",".join(FLAGS.bdmc_points)}.')
  if FLAGS.distortion in _UNSIMULABLE:
    raise ValueError(
        f'--bdmc_points needs data simulated from the model, which '
        f'--distortion={FLAGS.distortion} does not define; BDMC needs squared '
        f'error or Gaussian NLL (any beta), or Bernoulli NLL (beta = 1).')
  distortion = ais_flags.distortion_from_flags()
  for beta in points:
    try:
      # The same check tfrd.bdmc makes, here before the curve's AIS run.
      bdmc_lib._check_channel(distortion, beta)  # pylint: disable=protected-access
    except ValueError as error:
      raise ValueError(f'--bdmc_points={beta:g}: {error}') from None
  nearest = [schedule.betas[np.argmin(np.abs(schedule.betas - beta))]
             for beta in points]
  # A beta typed as the schedule's (e.g. 0.1 of a geometric schedule) takes
  # its exact value, rather than adding a second temperature next to it.
  return np.array(sorted({
      float(near) if math.isclose(beta, near, rel_tol=1e-9) else beta
      for beta, near in zip(points, nearest)}))


def bdmc_schedule(schedule, points):
  """The curve's schedule with `points` added as RD points where missing.

  `tfrd.truncate_schedule` of the result at a point is the curve's own
  schedule up to that point (plus the point itself and any lower points
  when they are not among the curve's temperatures).
  """
  betas = np.union1d(schedule.betas, points)
  rd_betas = np.union1d(schedule.betas[schedule.rd_indices], points)
  return tfrd.AnnealingSchedule(betas, np.searchsorted(betas, rd_betas))


def point_record(result, num_chains, seed, hmc_settings, in_schedule):
  """The curve.json `bdmc` entry of one `tfrd.BDMCResult`."""
  forward = result.forward.estimates[-1]
  return {
      'beta': float(result.beta),
      'mean_gap': result.mean_gap,
      'max_gap': result.max_gap,
      'gap_stderr': result.gap_stderr,
      'mean_lower': result.mean_lower,
      'mean_upper': result.mean_upper,
      'num_images': int(np.size(result.gap)),
      'forward_rate': float(np.mean(forward.rate)),
      'forward_distortion': float(np.mean(forward.distortion)),
      'num_transitions': int(result.num_transitions),
      'forward_accept_rate': float(result.forward.accept_rates[-1]),
      'reverse_accept_rate': float(result.reverse_accept_rate),
      'decoder_gradients_per_chain': int(result.num_decoder_gradients),
      'wall_time_s': float(sum(result.wall_time_s.values())),
      'settings': {
          'num_chains': int(num_chains),
          'num_leapfrog_steps': int(hmc_settings.num_leapfrog_steps),
          'step_size_mode': hmc_settings.step_size_mode,
          'reverse_step_sizes': 'the forward run\'s table, frozen',
          'seed': int(seed),
          'seeds': 'derived from (seed, beta) by tfrd.bdmc.bdmc_at_points',
          'jit_compiled': bool(result.forward.jit_compiled),
          'schedule': 'the curve\'s schedule truncated at beta',
          'beta_in_curve_schedule': bool(in_schedule),
          'simulation': ('z ~ p(z); x from exp(-beta d(x, f(z))) normalized '
                         '(tfrd.bdmc.simulate_data)'),
      },
  }


def _stopping_progress(printer):
  """`printer`, raising KeyboardInterrupt once SIGINT/SIGTERM was received.

  The app claimed the stop event for the curve's AIS loop, so the first
  signal only sets it; BDMC has no checkpoint to stop at, so it stops at the
  next chunk boundary instead.
  """
  stop = jobs.stop_event()

  def progress(update):
    if stop.is_set():
      raise KeyboardInterrupt
    printer(update)
  return progress


def run_from_flags(curve, decoder, distortion, output_dir, points, schedule):
  """Runs BDMC at `points` and records the gaps in the saved curve.

  The curve must already be saved in `output_dir`; after every point its
  curve.json (and curve.csv, curve.npz, curve.png) are rewritten with the
  gaps measured so far, atomically.

  Args:
    curve: the `tfrd.RDCurve` just estimated (its `bdmc` is set).
    decoder: the decoder the curve was estimated with (`LoadedDecoder`).
    distortion: the curve's `tfrd.Distortion`.
    output_dir: where the curve was saved.
    points: betas from `points_from_flags` (nothing happens when empty).
    schedule: the curve's `AnnealingSchedule`.

  Returns:
    The list of point records (also `curve.bdmc`), or None when off.

  Raises:
    KeyboardInterrupt: on SIGINT/SIGTERM, after saying what was kept.
  """
  if np.size(points) == 0:
    return None
  kwargs = ais_flags.ais_kwargs_from_flags()
  num_chains, seed = kwargs.pop('num_chains'), kwargs.pop('seed')
  hmc_settings = kwargs['hmc_settings']
  num_images = FLAGS.bdmc_num_images or curve.num_images
  full = bdmc_schedule(schedule, points)
  prior = priors.prior_from_spec(FLAGS.prior, decoder.latent_dim)
  passes = tfrd.passes.num_passes(hmc_settings.step_size_mode) + 1
  sys.stderr.write(
      f'rd_curve: BDMC at beta = {", ".join(f"{b:g}" for b in points)}: '
      f'{num_images} images simulated at each, the curve\'s schedule up to '
      f'each beta, {num_chains} chains each way, '
      f'L={hmc_settings.num_leapfrog_steps}\n')
  progress = _stopping_progress(
      progress_lib.ProgressPrinter(passes * len(points)))
  # A resumed run keeps the gaps it has (apps.rd_curve --resume).
  records = list(curve.bdmc or [])
  curve.bdmc = records
  for beta in points:
    start = time.time()
    try:
      (result,) = bdmc_lib.bdmc_at_points(
          decoder, distortion, [beta], num_images=num_images,
          latent_dim=decoder.latent_dim, schedule=full, num_chains=num_chains,
          seed=seed, prior=prior, progress=progress,
          decoder_dtype=decoder.dtype, **kwargs)
    except KeyboardInterrupt:
      sys.stderr.write(
          f'rd_curve: BDMC stopped at beta = {beta:g}. The curve is complete '
          f'in {output_dir}/curve.json with the gaps of {len(records)} '
          f'finished point(s); the same flags and --resume measure the '
          f'others.\n')
      raise
    record = point_record(result, num_chains, seed, hmc_settings,
                          beta in schedule.betas)
    record['wall_time_s'] = time.time() - start  # with the simulation
    records.append(record)
    records.sort(key=lambda record: record['beta'])
    curve.save(output_dir)
  _print_summary(records)
  return records


def _print_summary(records):
  print(f'{"BDMC beta":>10} {"lower":>12} {"upper":>12} {"gap":>8} '
        f'{"gap max":>8} {"images":>6}')
  for record in records:
    print(f'{record["beta"]:10.4g} {record["mean_lower"]:12.4f} '
          f'{record["mean_upper"]:12.4f} {record["mean_gap"]:8.4f} '
          f'{record["max_gap"]:8.4f} {record["num_images"]:6d}')
