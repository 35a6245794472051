"""BDMC gaps at points of a curve, and the one record of a BDMC point.

For every β asked for, this simulates images from the model at β
(`tfrd.bdmc.simulate_data`) and runs forward AIS from the prior to β and
reverse AIS from the generating latents back to the prior
(`tfrd.bdmc_at_points`), along the curve's own schedule truncated at β,
with the curve's chains, HMC settings and seed. The BDMC gap, upper minus
lower bound on log Z_β of the simulated data (paper §2.1, appendix D.3.2,
Fig. 9), bounds the error of the curve's log Ẑ, hence of its rate, at β.

`point_record` is the one schema of a BDMC point, wherever it is written:
curve.json's `bdmc` field (`apps.rd_curve --bdmc_points`, `apps.reproduce`)
and bdmc.json's `points` (`apps.bdmc`, which adds per-image values and the
forward curve). `apps.compare` reads both without translation.

`measure_for_curve` rewrites the curve's files after every point, so an
interrupted BDMC loses only the point it was running; the curve itself is
written before any BDMC work, so it is never lost to one. Everything asked
for is checked by `check_points` before any work.
"""

import json
import math
import os
import sys
import time

import numpy as np

from pipelines import jobs
from pipelines import progress as progress_lib
import tfrd
from tfrd import bdmc as bdmc_lib

__all__ = ['FORMAT', 'check_points', 'bdmc_schedule', 'point_record',
           'measure_for_curve', 'print_summary', 'run_bdmc_job', 'plot_bdmc']

# bdmc.json; /2: its points are `point_record`s (/1 named them gap, gap_max,
# lower, upper).
FORMAT = 'tfrd.bdmc/2'

# Distortions that have no exactly sampled channel at any β (tfrd.bdmc).
_UNSIMULABLE = ('ssim', 'features')


def check_points(settings, schedule, distortion):
  """The betas of `settings`, checked against the curve's schedule.

  Call before any work: every refusal is one clear line.

  Args:
    settings: `pipelines.settings.BDMCPointSettings`.
    schedule: the curve's `AnnealingSchedule`.
    distortion: the curve's `pipelines.settings.DistortionSettings`.

  Returns:
    Increasing float64 array of betas (empty when BDMC is off), each one of
    the schedule's own betas when it is within 1e-9 of one.

  Raises:
    ValueError: for betas that are not positive and finite or lie beyond
      the schedule, a distortion that cannot simulate data at a beta, or a
      non-positive number of images.
  """
  from pipelines import curve_run  # pylint: disable=g-import-not-at-top
  if settings.num_images is not None and settings.num_images < 1:
    raise ValueError(f'--bdmc_num_images must be positive, got '
                     f'{settings.num_images}.')
  if not settings.betas:
    return np.zeros([0])
  points = sorted({float(value) for value in settings.betas})
  beta_max = float(schedule.betas[-1])
  if not all(math.isfinite(beta) and 0 < beta <= beta_max * (1 + 1e-12)
             for beta in points):
    raise ValueError(
        f'--bdmc_points must be positive and at most {beta_max:g} (the '
        f'largest beta of the curve\'s schedule), got '
        f'{",".join(f"{beta:g}" for beta in points)}.')
  if distortion.name in _UNSIMULABLE:
    raise ValueError(
        f'--bdmc_points needs data simulated from the model, which '
        f'--distortion={distortion.name} does not define; BDMC needs squared '
        f'error or Gaussian NLL (any beta), or Bernoulli NLL (beta = 1).')
  channel = curve_run.make_distortion(distortion)
  for beta in points:
    try:
      # The same check tfrd.bdmc makes, here before the curve's AIS run.
      bdmc_lib._check_channel(channel, beta)  # pylint: disable=protected-access
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


def point_record(result, chains, in_schedule, per_image=False):
  """The record of one `tfrd.BDMCResult`: curve.json's `bdmc` entry and
  bdmc.json's point.

  Args:
    result: the `tfrd.BDMCResult`.
    chains: the `tfrd.ChainSettings` it ran with.
    in_schedule: whether its beta is one of the curve's temperatures.
    per_image: add the per-image bounds and the forward curve (bdmc.json).

  Returns:
    A JSON-serializable dict: beta, mean_gap (upper minus lower bound on log
    Z_β, averaged over images), max_gap, gap_stderr, mean_lower,
    mean_upper, num_images, the forward chains' rate and distortion at β,
    transitions, acceptance, decoder gradients per chain, wall time and
    settings.
  """
  forward = result.forward.estimates[-1]
  hmc = chains.hmc
  record = {
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
          'num_chains': int(chains.num_chains),
          'num_leapfrog_steps': int(hmc.num_leapfrog_steps),
          'step_size_mode': hmc.step_size_mode,
          'reverse_step_sizes': 'the forward run\'s table, frozen',
          'seed': int(chains.seed),
          'seeds': 'derived from (seed, beta) by tfrd.bdmc.bdmc_at_points',
          'jit_compiled': bool(result.forward.jit_compiled),
          'schedule': 'the curve\'s schedule truncated at beta',
          'beta_in_curve_schedule': bool(in_schedule),
          'simulation': ('z ~ p(z); x from exp(-beta d(x, f(z))) normalized '
                         '(tfrd.bdmc.simulate_data)'),
      },
  }
  if per_image:
    record.update({
        'lower_per_image': result.lower.tolist(),
        'upper_per_image': result.upper.tolist(),
        'gap_per_image': result.gap.tolist(),
        'forward_curve': {
            'beta': result.forward.betas.tolist(),
            'rate': [float(np.mean(e.rate))
                     for e in result.forward.estimates],
            'distortion': [float(np.mean(e.distortion))
                           for e in result.forward.estimates],
        },
        'wall_time_by_phase_s': {
            phase: float(seconds)
            for phase, seconds in result.wall_time_s.items()},
    })
  return record


def _stopping_progress(printer):
  """`printer`, raising KeyboardInterrupt once SIGINT/SIGTERM was received.

  The run claimed the stop event for the curve's AIS loop, so the first
  signal only sets it; BDMC honours it between chunks instead.
  """
  stop = jobs.stop_event()

  def progress(update):
    printer(update)
    if stop.is_set():
      raise KeyboardInterrupt

  return progress


def measure_for_curve(curve, inputs, prior, schedule, points, num_images,
                      chains, output_dir, program='rd_curve'):
  """Runs BDMC at `points` and records the gaps in the saved curve.

  The curve must already be saved in `output_dir`; after every point its
  curve.json (and curve.csv, curve.npz, curve.png) are rewritten with the
  gaps measured so far, atomically.

  Args:
    curve: the `tfrd.RDCurve` (its `bdmc` is extended; a resumed run keeps
      the gaps it has).
    inputs: the curve's `CurveInputs` (decoder and distortion).
    prior: the curve's prior.
    schedule: the curve's `AnnealingSchedule`.
    points: betas from `check_points`.
    num_images: images simulated at each point (None: the curve's number).
    chains: the curve's `tfrd.ChainSettings`.
    output_dir: where the curve was saved.
    program: the name starting the messages.

  Returns:
    The list of point records (also `curve.bdmc`).

  Raises:
    KeyboardInterrupt: on SIGINT/SIGTERM, after saying what was kept.
  """
  decoder, distortion = inputs.decoder, inputs.distortion
  chains = chains._replace(decoder_dtype=decoder.dtype, step_size_table=None)
  hmc = chains.hmc
  num_images = num_images or curve.num_images
  full = bdmc_schedule(schedule, points)
  passes = tfrd.passes.num_passes(hmc.step_size_mode) + 1
  sys.stderr.write(
      f'{program}: BDMC at beta = {", ".join(f"{b:g}" for b in points)}: '
      f'{num_images} images simulated at each, the curve\'s schedule up to '
      f'each beta, {chains.num_chains} chains each way, '
      f'L={hmc.num_leapfrog_steps}\n')
  control = tfrd.RunControl(progress=_stopping_progress(
      progress_lib.ProgressPrinter(passes * len(points))))
  records = list(curve.bdmc or [])
  curve.bdmc = records
  for beta in points:
    start = time.time()
    try:
      (result,) = tfrd.bdmc_at_points(
          decoder, distortion, [beta], num_images=num_images,
          latent_dim=int(prior.event_shape[-1]), schedule=full, prior=prior,
          chains=chains, control=control)
    except KeyboardInterrupt:
      sys.stderr.write(
          f'{program}: BDMC stopped at beta = {beta:g}. The curve is complete '
          f'in {output_dir}/curve.json with the gaps of {len(records)} '
          f'finished point(s); the same flags and --resume measure the '
          f'others.\n')
      raise
    record = point_record(result, chains, beta in schedule.betas)
    record['wall_time_s'] = time.time() - start  # with the simulation
    records.append(record)
    records.sort(key=lambda record: record['beta'])
    curve.save(output_dir)
  print_summary(records)
  return records


def print_summary(records):
  """The BDMC points' table on stdout."""
  print(f'{"BDMC beta":>10} {"lower":>12} {"upper":>12} {"gap":>8} '
        f'{"gap max":>8} {"images":>6}')
  for record in records:
    print(f'{record["beta"]:10.4g} {record["mean_lower"]:12.4f} '
          f'{record["mean_upper"]:12.4f} {record["mean_gap"]:8.4f} '
          f'{record["max_gap"]:8.4f} {record["num_images"]:6d}')


def _default_points(distortion, schedule_settings):
  """The lowest RD beta, 1 and the highest (only 1 for Bernoulli NLL)."""
  beta_max = (schedule_settings.rd_betas[-1] if schedule_settings.rd_betas
              else schedule_settings.beta_max)
  return np.array(bdmc_lib.default_bdmc_betas(
      distortion, beta_min=min(schedule_settings.beta_min, beta_max),
      beta_max=beta_max))


def _checked_betas(betas, beta_max):
  points = np.array(sorted({float(value) for value in betas}))
  if not np.all(np.isfinite(points)) or points[0] <= 0 or (
      points[-1] > beta_max * (1 + 1e-12)):
    raise ValueError(
        f'--rd_points must lie in (0, {beta_max:g}] (the schedule ends at '
        f'the largest RD beta, --beta_max or the last --rd_betas), got '
        f'{points.tolist()}.')
  return points


def schedule_with_points(schedule_settings, points):
  """The curve run's schedule with `points` added to its RD points.

  Each point's runs then take exactly the temperatures the curve run takes
  to reach it (plus the few fills the added points bring), so the gap is
  the gap of that run.
  """
  if schedule_settings.rd_betas:
    curve_points = np.array(schedule_settings.rd_betas)
  else:
    curve_points = tfrd.rd_point_betas(
        schedule_settings.num_rd_points, schedule_settings.beta_max,
        beta_min=schedule_settings.beta_min,
        include_beta_one=schedule_settings.include_beta_one,
        spacing=schedule_settings.rd_spacing)
  merged = np.union1d(curve_points, points)
  return tfrd.schedule_from_settings(schedule_settings._replace(
      rd_betas=tuple(float(beta) for beta in merged)))


def _jit_compile(chains, precision):
  """The chains' XLA choice under the decoder's precision.

  The data are simulated by an eager decoder call and XLA computes a
  bfloat16 decoder differently (`adapters.precision`): with bfloat16 the
  chains run without XLA ('auto'), or the run is refused (True); otherwise
  they would sample another function than the one the data came from, and
  the upper bound would not be guaranteed.

  Raises:
    ValueError: for bfloat16 with jit_compile=True.
  """
  if precision != 'bfloat16' or chains.jit_compile is False:
    return chains.jit_compile
  if chains.jit_compile is True:
    raise ValueError(
        '--decoder_precision=bfloat16 needs --jit=false or auto: the data are '
        'simulated by an eager decoder call, XLA computes bfloat16 '
        'differently, and the chains would sample another function than the '
        'one the data came from (no guaranteed upper bound).')
  sys.stderr.write('bdmc: --decoder_precision=bfloat16: the AIS runs go '
                   'without XLA, computing the decoder as the eager call that '
                   'simulates the data does.\n')
  return False


def run_bdmc_job(job):
  """Loads, simulates, runs BDMC at every point and writes; returns the
  bdmc.json document.

  For every point β this simulates `job.num_images` images from the model
  at β, runs forward AIS from the prior to β and reverse AIS from the
  generating z back to the prior, along the schedule the curve run of
  `job.schedule` takes to β. Writes bdmc.json (per point a `point_record`
  with per-image values and the forward curve; settings and timing),
  bdmc.png (`plot_bdmc`) and simulated.npz (the simulated x and z).

  Args:
    job: `pipelines.settings.BDMCJob`.

  Raises:
    ValueError, OSError, ModelError: bad input, before any work.
  """
  # pylint: disable=g-import-not-at-top
  from pipelines import curve_run
  from pipelines import output_files
  from tfrd import randomness
  # pylint: enable=g-import-not-at-top
  start = time.time()
  if job.num_images < 1:
    raise ValueError(f'--num_images must be positive, got {job.num_images}.')
  chains = job.chains._replace(
      jit_compile=_jit_compile(job.chains, job.model.precision))
  outputs = output_files.OutputFiles(
      'bdmc', job.output_dir, ('bdmc.json', 'simulated.npz', 'bdmc.png'),
      overwrite=job.overwrite)
  outputs.prepare()
  decoder, model_config = curve_run.load_decoder(job.model, job.distortion,
                                                 'bdmc')
  chains = chains._replace(decoder_dtype=decoder.dtype)
  distortion = curve_run.make_distortion(job.distortion, decoder.output_shape,
                                         job.model)
  beta_max = (job.schedule.rd_betas[-1] if job.schedule.rd_betas else
              job.schedule.beta_max)
  points = (_default_points(distortion, job.schedule) if job.betas is None
            else _checked_betas(job.betas, beta_max))
  schedule = schedule_with_points(job.schedule, points)
  hmc = chains.hmc
  # Each point: the forward passes, then one reverse pass.
  passes = tfrd.passes.num_passes(hmc.step_size_mode) + 1
  sys.stderr.write(
      f'bdmc: {job.model.path} (latent {decoder.latent_dim}, output '
      f'{decoder.output_shape}); {job.num_images} images simulated at each '
      f'of beta = {", ".join(f"{b:g}" for b in points)}; schedule of '
      f'{schedule.num_transitions} transitions to beta = '
      f'{schedule.betas[-1]:g}, {chains.num_chains} chains each way, '
      f'L={hmc.num_leapfrog_steps}, {hmc.step_size_mode} step sizes\n')
  results = tfrd.bdmc_at_points(
      decoder, distortion, points, num_images=job.num_images,
      latent_dim=decoder.latent_dim, schedule=schedule, chains=chains,
      control=tfrd.RunControl(progress=progress_lib.ProgressPrinter(
          passes * points.size)))
  records = [point_record(result, chains, True, per_image=True)
             for result in results]
  schedule_settings = job.schedule
  document = {
      'format': FORMAT,
      'points': records,
      'max_gap': max(record['mean_gap'] for record in records),
      'config': {
          'model': os.path.abspath(job.model.path),
          'latent_dim': decoder.latent_dim,
          'decoder_output_shape': list(decoder.output_shape),
          **{key: model_config[key] for key in (
              'decoder_precision', 'tf32_execution', 'device')},
          'distortion': distortion.get_config(),
          'num_images': job.num_images,
          'num_chains': chains.num_chains,
          'num_leapfrog_steps': hmc.num_leapfrog_steps,
          'step_size_mode': hmc.step_size_mode,
          'reverse_step_sizes': 'the forward run\'s table, frozen',
          'initial_step_size': hmc.initial_step_size,
          'target_accept_prob': hmc.target_accept_prob,
          'seed': chains.seed,
          'schedule': {
              'kind': schedule_settings.kind,
              'num_intermediate_base': schedule_settings.num_intermediate,
              'num_transitions_full': int(schedule.num_transitions),
              'beta_max': float(schedule.betas[-1]),
              'min_before_first': schedule_settings.min_before_first,
              'min_between': schedule_settings.min_between,
          },
          'simulation': ('z ~ p(z); x from exp(-beta d(x, f(z))) normalized '
                         '(tfrd.bdmc.simulate_data), per point'),
          'random_block_size': randomness.BLOCK_SIZE,
          'noise_generator': randomness.NOISE_GENERATOR,
      },
      'timing': {'wall_time_s': time.time() - start},
  }
  simulated = {}
  for point, result in enumerate(results):
    simulated[f'x_{point}'] = result.simulated.x
    simulated[f'z_{point}'] = result.simulated.z
  # bdmc.json last of the data: its presence means the run is complete.
  with outputs.open('simulated.npz', 'wb') as stream:
    np.savez(stream, betas=points, **simulated)
  with outputs.open('bdmc.json') as stream:
    json.dump(document, stream, indent=1)
  plot_bdmc(records, outputs.path('bdmc.png'),
            title=f'BDMC gaps of {os.path.basename(job.model.path)} '
                  f'({distortion.name})')
  return document


def plot_bdmc(records, path, title=None):
  """Fig. 9-style figure: each point's forward curve on its simulated data,
  its BDMC gap annotated, and the gaps against β.

  Args:
    records: the 'points' of bdmc.json (`point_record(..., per_image=True)`).
    path: PNG file to write.
    title: optional figure title.

  Returns:
    `path`.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure, (curve_axis, gap_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
  distortions = []
  for record in records:
    curve = record['forward_curve']
    line, = curve_axis.plot(curve['distortion'], curve['rate'], '.-',
                            markersize=3,
                            label=f'data simulated at β = {record["beta"]:.3g}')
    curve_axis.plot(record['forward_distortion'], record['forward_rate'], 'o',
                    color=line.get_color())
    curve_axis.annotate(
        f'gap {record["mean_gap"]:.3g} nats\n(max {record["max_gap"]:.3g})',
        (record['forward_distortion'], record['forward_rate']),
        textcoords='offset points', xytext=(6, 4), fontsize=8,
        color=line.get_color())
    distortions.extend(d for d in curve['distortion'] if d > 0)
  if distortions and max(distortions) / min(distortions) > 100:
    curve_axis.set_xscale('log')
  curve_axis.margins(x=0.15, y=0.18)  # room for the annotations
  curve_axis.set_xlabel('distortion D (per image)')
  curve_axis.set_ylabel('rate R (nats per image)')
  curve_axis.set_title('forward AIS curve, BDMC gap at its end')
  curve_axis.grid(alpha=0.3)
  curve_axis.legend(fontsize=8)
  betas = [record['beta'] for record in records]
  gaps = [record['mean_gap'] for record in records]
  lowest = [min(record['gap_per_image']) for record in records]
  highest = [record['max_gap'] for record in records]
  gap_axis.errorbar(betas, gaps, yerr=[np.subtract(gaps, lowest),
                                       np.subtract(highest, gaps)],
                    fmt='o-', capsize=4, label='mean (bars: min to max image)')
  gap_axis.set_xscale('log')
  gap_axis.set_xlabel('inverse temperature β')
  gap_axis.set_ylabel('BDMC gap, upper - lower log Z (nats)')
  gap_axis.set_title('BDMC gap per point')
  gap_axis.grid(alpha=0.3)
  gap_axis.legend(fontsize=8)
  if title:
    figure.suptitle(title)
  figure.tight_layout()
  tfrd.files.save_figure(figure, path)
  plt.close(figure)
  return path
