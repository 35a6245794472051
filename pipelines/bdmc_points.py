"""BDMC gaps at points of a curve: the check every curve gets, written
where the curve is.

The check itself (which points, how many simulated images, the cost rule,
the schedule search of --target_gap, the warnings) is `tfrd.accuracy`'s;
this module runs it for `pipelines.curve_run` with progress lines, writes
its gaps into the curve's files as they come, and prints them. For every β
it simulates images from the model at β (`tfrd.bdmc.simulate_data`) and
runs forward AIS from the prior to β and reverse AIS from the generating
latents back to the prior (`tfrd.bdmc_at_points`), along the curve's own
schedule truncated at β, with the curve's chains, HMC settings and seed.
The BDMC gap, upper minus lower bound on log Z_β of the simulated data
(paper §2.1, appendix D.3.2, Fig. 9), bounds the error of log Ẑ, hence of
the rate, at β on such simulated data at the curve's schedule; for the
curve's own images it is an indication, not a bound.

`tfrd.accuracy.point_record` is the one schema of a BDMC point, wherever it
is written: curve.json's `bdmc` field (`apps.rd_curve`, `apps.reproduce`)
and bdmc.json's `points` (`apps.bdmc`, which adds per-image values and the
forward curve). `apps.compare` reads both without translation.

`measure_for_curve` rewrites the curve's files after every point, so an
interrupted check loses only the point it was running; the curve itself is
written before any BDMC work, so it is never lost to one. The signal on the
user's images after a search (`measure_user_images`) is added the same
way, once the curve is on disk.
"""

import json
import os
import sys
import time

import numpy as np

from pipelines import jobs
from pipelines import progress as progress_lib
import tfrd

__all__ = ['FORMAT', 'UNSIMULABLE', 'check_distortion', 'plan_check',
           'check_chains', 'reach_line', 'settle_schedule',
           'say_schedule_as_set', 'measure_for_curve', 'measure_user_images',
           'print_accuracy', 'print_user_images', 'run_bdmc_job',
           'plot_bdmc']

# bdmc.json; /2: its points are `tfrd.accuracy.point_record`s (/1 named them
# gap, gap_max, lower, upper).
FORMAT = 'tfrd.bdmc/2'

# Distortions that have no exactly sampled channel at any β (tfrd.bdmc).
UNSIMULABLE = ('ssim', 'features')


def check_distortion(accuracy, distortion):
  """The `tfrd.Distortion` the check simulates with, or None for no check.

  Args:
    accuracy: the job's `tfrd.AccuracySettings`.
    distortion: the job's `pipelines.settings.DistortionSettings`.

  Returns:
    None when the check is off, or when its points are the defaults and the
    distortion defines no channel to simulate from (SSIM, deep features:
    a line says the curve goes unchecked).

  Raises:
    ValueError: for points asked for by name with such a distortion.
  """
  from pipelines import curve_run  # pylint: disable=g-import-not-at-top
  if not accuracy.enabled:
    return None
  if distortion.name in UNSIMULABLE:
    if accuracy.betas is None:
      sys.stderr.write(
          f'rd_curve: --distortion={distortion.name} cannot simulate data '
          f'from the model, so this curve goes without its BDMC accuracy '
          f'check (it needs squared error, Gaussian NLL or Bernoulli NLL).\n')
      return None
    raise ValueError(
        f'--bdmc_points needs data simulated from the model, which '
        f'--distortion={distortion.name} does not define; BDMC needs squared '
        f'error or Gaussian NLL (any beta), or Bernoulli NLL (beta = 1).')
  return curve_run.make_distortion(distortion)


def plan_check(job, schedule, chains):
  """The check of `job`'s curve on `schedule`, refused (one line naming
  the flag) before any work when it cannot be made.

  Returns:
    (the `tfrd.Distortion` to simulate with or None, the
    `tfrd.accuracy.CheckPlan`; no points when there is no check).

  Raises:
    ValueError: for points beyond the schedule or that the distortion cannot
      simulate.
  """
  distortion = check_distortion(job.accuracy, job.distortion)
  accuracy = (job.accuracy if distortion is not None else
              tfrd.settings.AccuracySettings(betas=()))
  try:
    return distortion, tfrd.accuracy.plan_check(
        distortion, schedule, job.data.num_images, chains, accuracy)
  except ValueError as error:
    raise ValueError(f'--bdmc_points: {error}') from None


def check_chains(chains, precision, program='rd_curve'):
  """The chains of BDMC runs: the curve's, without XLA for a bfloat16
  decoder (a line on stderr says so).

  The data are simulated by an eager decoder call, and XLA computes a
  bfloat16 decoder differently (`adapters.precision`): chains compiled by
  XLA would sample another function than the one the data came from, and
  the upper bound would not be guaranteed.
  """
  if precision == 'bfloat16' and chains.jit_compile is not False:
    sys.stderr.write(f'{program}: --decoder_precision=bfloat16: the BDMC '
                     f'chains run without XLA, computing the decoder as the '
                     f'eager call that simulates their data does.\n')
    return chains._replace(jit_compile=False)
  return chains


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


def _gaps_line(points):
  return ', '.join(
      f'{point["mean_gap"]:.3g}'
      + ('' if tfrd.plotting.recorded_gap_stderr(point) is None else
         f' ± {tfrd.plotting.recorded_gap_stderr(point):.2g}')
      + f' at beta {point["beta"]:g}' for point in points)


def _sizes_text(sizes):
  """'20000, 40000, 80000' (the ends and a count when there are many)."""
  if len(sizes) <= 6:
    return ', '.join(f'{size}' for size in sizes)
  return f'{sizes[0]}, {sizes[1]}, ..., {sizes[-1]} ({len(sizes)} lengths)'


def reach_line(reach, accuracy, program='rd_curve'):
  """The line saying how far the schedule search may go, before it starts.

  Args:
    reach: the `tfrd.accuracy.SearchReach`.
    accuracy: the `tfrd.AccuracySettings` (for the cap).
    program: the name starting the line.

  Returns:
    One line, without its newline.
  """
  sizes = reach.num_intermediates
  return (
      f'{program}: the search\'s reach: target gap {reach.target_gap:g} '
      f'nats; it may try --num_intermediate={_sizes_text(sizes)} (the first '
      f'doubled up to --max_num_intermediate={accuracy.max_num_intermediate}'
      f'); at most {reach.decoder_gradients:.3g} decoder gradients for the '
      f'search and the curve (a check at every length, the fresh check and '
      f'the curve at the longest, the signal on your images'
      + (', the schedule\'s speed measured once'
         if reach.speed_decoder_gradients else '') + '), '
      f'{reach.least_decoder_gradients:.3g} if the first schedule meets the '
      f'target')


def say_schedule_as_set(accuracy, program='rd_curve'):
  """Says, before the curve, that the schedule is checked, not searched
  (`tfrd.AccuracySettings.grow_schedule` False with a target)."""
  sys.stderr.write(
      f'{program}: the schedule was set explicitly: the curve runs on it as '
      f'set, and the check after the curve judges it against the target '
      f'gap of {accuracy.target_gap:g} nats without lengthening it '
      f'(--target_gap={accuracy.target_gap:g} lets tfrd lengthen it)\n')


def settle_schedule(job, inputs, prior, chains, program='rd_curve',
                    record_path=None):
  """`tfrd.accuracy.settle_schedule` for a curve job, with its lines.

  Args:
    job: the `pipelines.settings.CurveJob` (its schedule is the first
      attempt, its accuracy the target and cap).
    inputs: the `CurveInputs`.
    prior: the curve's prior.
    chains: the curve's `tfrd.ChainSettings`.
    program: the name starting the lines.
    record_path: a JSON file keeping the attempts, so that a search run
      again reuses them (`tfrd.accuracy.settle_schedule`), or None.

  Returns:
    The `tfrd.accuracy.ScheduleSearch`.
  """
  accuracy = job.accuracy
  num_images = job.data.num_images
  latent_dim = int(prior.event_shape[-1])
  plan = tfrd.accuracy.plan_check(
      inputs.distortion, tfrd.schedule_from_settings(job.schedule),
      num_images, chains, accuracy, latent_dim)
  # What the search may cost, before its first attempt.
  sys.stderr.write(reach_line(tfrd.accuracy.search_reach(
      inputs.distortion, job.schedule, num_images, chains, accuracy,
      latent_dim), accuracy, program) + '\n')
  hmc = chains.hmc
  sys.stderr.write(
      f'{program}: checking the schedule first: BDMC at beta = '
      f'{", ".join(f"{b:g}" for b in plan.betas)} on {plan.num_images} '
      f'image(s) simulated from the model, {chains.num_chains} chains each '
      f'way, L={hmc.num_leapfrog_steps}; target gap {accuracy.target_gap:g} '
      f'nats (the schedule grows until every mean gap plus '
      f'{tfrd.accuracy.STDERR_MARGIN:g} standard errors meets it, up to '
      f'--max_num_intermediate={accuracy.max_num_intermediate})\n')
  passes = tfrd.passes.num_passes(hmc.step_size_mode) + 1
  printers = {}

  def progress(update):
    # A printer per attempt ('check at N=...'), each with its own passes.
    attempt = update.phase.split(' point ')[0]
    if attempt not in printers:
      printers[attempt] = progress_lib.ProgressPrinter(
          passes * plan.betas.size)
    printers[attempt](update)

  control = tfrd.RunControl(progress=_stopping_progress(progress))
  search = tfrd.accuracy.settle_schedule(
      inputs.decoder, inputs.distortion, job.schedule, prior, chains,
      accuracy, num_images, control, record_path)
  margin = tfrd.accuracy.STDERR_MARGIN
  if search.speed is not None:
    sys.stderr.write(
        f'{program}: every schedule re-spaced by thermodynamic length, '
        f'measured once on {len(search.speed["image_indices"])} simulated '
        f'image(s) ({search.speed["decoder_gradients"]:,} decoder '
        f'gradients)\n')
  for attempt in search.attempts:
    verdict = ('within target' if attempt['within_target'] else
               f'not within target: mean + {margin:g} s.e. above it')
    first = attempt.get('first_image', 0)
    sys.stderr.write(
        f'{program}: schedule of {attempt["num_transitions"]} transitions '
        f'(--num_intermediate={attempt["num_intermediate"]})'
        + (f' on fresh images {first} to '
           f'{first + attempt["points"][0]["num_images"] - 1}'
           if first else '') +
        f': gaps {_gaps_line(attempt["points"])} nats ({verdict})\n')
  verification = search.verification
  if verification is not None:
    first = verification['first_image']
    verdict = ('within target' if verification['within_target'] else
               f'not within target: mean + {margin:g} s.e. above it')
    sys.stderr.write(
        f'{program}: the settled schedule on {plan.num_images} fresh '
        f'simulated image(s) (indices {first} to '
        f'{first + plan.num_images - 1}, unseen by the search): gaps '
        f'{_gaps_line(verification["points"])} nats ({verdict}); these are '
        f'the curve\'s check\n')
  if search.status == 'capped':
    sys.stderr.write(
        f'{program}: the target gap of {accuracy.target_gap:g} nats was not '
        f'met within --max_num_intermediate={accuracy.max_num_intermediate}; '
        f'the curve uses the longest schedule tried '
        f'(--num_intermediate={search.schedule_settings.num_intermediate}).\n')
  elif len(search.attempts) > 1:
    settled = search.schedule_settings
    sys.stderr.write(
        f'{program}: settled on --num_intermediate={settled.num_intermediate} '
        f'--min_before_first={settled.min_before_first} '
        f'--min_between={settled.min_between}; the curve runs on it\n')
  return search


def measure_for_curve(curve, inputs, prior, schedule, plan, accuracy, chains,
                      output_dir, program='rd_curve'):
  """Runs the check of `plan` and records its gaps in the saved curve.

  The curve must already be saved in `output_dir`; after every point its
  curve.json (and curve.csv, curve.npz, curve.png) are rewritten with the
  gaps measured so far and `curve.accuracy`, atomically.

  Args:
    curve: the `tfrd.RDCurve` (its `bdmc` is extended; a resumed run keeps
      the gaps it has).
    inputs: the curve's `CurveInputs` (decoder and distortion).
    prior: the curve's prior.
    schedule: the curve's `AnnealingSchedule`.
    plan: the `tfrd.accuracy.CheckPlan` (its betas: those to measure).
    accuracy: the `tfrd.AccuracySettings` (for the target).
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
  full = tfrd.accuracy.schedule_holding(schedule, plan.betas)
  passes = tfrd.passes.num_passes(hmc.step_size_mode) + 1
  sys.stderr.write(
      f'{program}: accuracy check: BDMC at beta = '
      f'{", ".join(f"{b:g}" for b in plan.betas)}: {plan.num_images} images '
      f'simulated at each, the curve\'s schedule up to each beta, '
      f'{chains.num_chains} chains each way, L={hmc.num_leapfrog_steps}\n')
  control = tfrd.RunControl(progress=_stopping_progress(
      progress_lib.ProgressPrinter(passes * len(plan.betas))))
  records = list(curve.bdmc or [])
  curve.bdmc = records
  for beta in plan.betas:
    start = time.time()
    try:
      (result,) = tfrd.bdmc_at_points(
          decoder, distortion, [beta], num_images=plan.num_images,
          latent_dim=int(prior.event_shape[-1]), schedule=full, prior=prior,
          chains=chains, control=control)
    except KeyboardInterrupt:
      sys.stderr.write(
          f'{program}: BDMC stopped at beta = {beta:g}. The curve is complete '
          f'in {output_dir}/curve.json with the gaps of {len(records)} '
          f'finished point(s); the same flags and --resume measure the '
          f'others.\n')
      raise
    record = tfrd.accuracy.point_record(result, chains,
                                        beta in schedule.betas)
    record['wall_time_s'] = time.time() - start  # with the simulation
    records.append(record)
    records.sort(key=lambda record: record['beta'])
    full_plan = plan._replace(betas=np.union1d(
        plan.betas, [record['beta'] for record in records]))
    curve.accuracy = tfrd.accuracy.describe(
        curve, full_plan, records, None, accuracy.target_gap,
        schedule_fixed=not accuracy.grow_schedule)
    curve.save(output_dir)
  return records


def measure_user_images(curve, inputs, prior, schedule_settings, chains,
                        output_dir, program='rd_curve'):
  """Adds the signal on the user's images to a saved curve that a schedule
  search settled (`tfrd.accuracy.measure_user_images`).

  The curve must already be saved in `output_dir`, with the search in its
  `accuracy`; its files are rewritten once, atomically, with the signal in
  `accuracy.user_images`. Nothing is done for a curve without a search or
  that holds the signal already, so a run resumed after an interruption
  here measures it then.

  Args:
    curve: the `tfrd.RDCurve` (its `accuracy` is replaced).
    inputs: the curve's `CurveInputs` (decoder, images, distortion).
    prior: the curve's prior.
    schedule_settings: the settled `tfrd.ScheduleSettings` (the curve's).
    chains: the curve's `tfrd.ChainSettings`.
    output_dir: where the curve was saved.
    program: the name starting the messages.

  Returns:
    The signal's record, or None when none was measured.

  Raises:
    KeyboardInterrupt: on SIGINT/SIGTERM, after saying what was kept.
  """
  accuracy = curve.accuracy or {}
  search = accuracy.get('search')
  if not search or accuracy.get('user_images'):
    return None
  step = tfrd.accuracy.schedule_step(schedule_settings, search['attempts'],
                                     search.get('speed'))
  if step is None:
    sys.stderr.write(f'{program}: a base schedule of one distribution '
                     f'cannot be halved: no signal on your images.\n')
    return None
  count = min(tfrd.accuracy.USER_IMAGES, curve.num_images)
  previous = step.previous.num_intermediate
  sys.stderr.write(
      f'{program}: on {count} of your images, forward AIS once more on '
      + (f'the settled schedule halved (N={previous}; the search tried one)'
         if step.halved else f'the search\'s schedule before the settled one '
         f'(N={previous})')
      + ', to see how much their log Ẑ moved with the schedule\n')
  hmc = chains.hmc
  control = tfrd.RunControl(progress=_stopping_progress(
      progress_lib.ProgressPrinter(tfrd.passes.num_passes(
          hmc.step_size_mode))))
  try:
    record = tfrd.accuracy.measure_user_images(
        inputs.decoder, inputs.images, inputs.distortion, curve, step, prior,
        chains, accuracy['checked_betas'], control)
  except KeyboardInterrupt:
    sys.stderr.write(
        f'{program}: stopped while measuring the signal on your images. The '
        f'curve and its check are complete in {output_dir}/curve.json; the '
        f'same flags and --resume measure the signal.\n')
    raise
  curve.accuracy = tfrd.accuracy.add_user_images(accuracy, record)
  curve.save(output_dir)
  return record


def print_accuracy(accuracy):
  """The curve's accuracy on stdout: the gaps, their cost, what they mean,
  and the warnings (also on stderr, where a user watching progress sees
  them)."""
  fraction = accuracy['check_cost_fraction']
  search = accuracy.get('search')
  tried = len(search['attempts']) if search else 1
  measured = (tried + bool(search and search.get('verification')) +
              bool(accuracy.get('user_images')))
  # The whole search's cost, every measurement it made.
  print(f'accuracy check (BDMC on {accuracy["num_images"]} simulated '
        f'image(s) per point; {accuracy["check_decoder_gradients"]:,} decoder '
        f'gradients'
        + (f' over {measured} measurements' if measured > 1 else '')
        + f', {fraction:.0%} of the curve\'s '
        f'{accuracy["curve_decoder_gradients"]:,}):')
  print(f'{"beta":>12} {"gap":>10} {"± s.e.":>8} {"largest":>8}')
  for gap in accuracy['gaps']:
    # No standard error (one image and one chain; or a one-image record
    # of an older version, which wrote 0): none is printed.
    stderr = tfrd.plotting.recorded_gap_stderr(
        {'num_images': accuracy['num_images'], **gap})
    stderr = f'{"n/a":>8}' if stderr is None else f'{stderr:8.4f}'
    print(f'{gap["beta"]:12.5g} {gap["mean_gap"]:10.4f} {stderr} '
          f'{gap["max_gap"]:8.4f}')
  as_set = accuracy.get('schedule_as_set')
  if accuracy.get('target_gap') is not None:
    met = accuracy.get('within_target')
    print(f'target gap {accuracy["target_gap"]:g} nats: '
          f'{"met" if met else "NOT met"} (every point\'s mean gap + '
          f'{tfrd.accuracy.STDERR_MARGIN:g} s.e. within it, on at least '
          f'{tfrd.accuracy.MIN_CHECK_IMAGES} simulated images)'
          + (f' after {tried} schedule(s)' if search else '')
          + ('; the gaps above are the settled schedule\'s on fresh '
             'simulated images, not those that stopped the search'
             if search and search.get('verification') else '')
          + ('; on the schedule as you set it, which tfrd does not '
             'lengthen' if as_set else ''))
  user_images = accuracy.get('user_images')
  if user_images:
    print_user_images(user_images)
  print(accuracy['explanation'])
  warnings = list(accuracy['warnings'])
  if as_set and accuracy.get('within_target') is False:
    target = accuracy['target_gap']
    warnings.append(f'--target_gap={target:g} lets tfrd lengthen the '
                    f'schedule you set until every gap meets it (up to '
                    f'--max_num_intermediate).')
  for warning in warnings:
    print(f'warning: {warning}')
    sys.stderr.write(f'rd_curve: warning: {warning}\n')


def print_user_images(record):
  """The signal on the user's images on stdout: a line per RD point and
  what it means (`tfrd.accuracy.USER_IMAGES_EXPLANATION`)."""
  previous, settled = record['schedules']
  count = len(record['images'])
  source = (' (the settled schedule halved: the search tried one)'
            if record['halved'] else '')
  for point in record['points']:
    stderr = point.get('stderr')
    print(f'on {count} of your images, forward log Ẑ at beta='
          f'{point["beta"]:g} moved {point["mean_change"]:+.3g}'
          + ('' if stderr is None else f' ± {stderr:.2g}')
          + f' nats from N={previous:,}{source} to N={settled:,}: a change '
          f'of this size says how much the curve at that beta still moves '
          f'with the schedule')
  print(record['explanation'])


def schedule_with_points(schedule_settings, points):
  """`apps.bdmc`'s schedule: the curve run's with `points` added to its RD
  points.

  Unlike a curve's check (`tfrd.accuracy.schedule_holding`, which adds a
  point as one more temperature of a schedule already built), apps.bdmc
  starts from the flags: it builds the schedule an `apps.rd_curve` run
  would build had `points` been among its RD points, fills included, so
  that each point's runs take exactly the temperatures that run takes to
  it. For points on the curve's schedule (the defaults) the two agree.
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
  if job.model.precision == 'bfloat16' and job.chains.jit_compile is True:
    raise ValueError(
        '--decoder_precision=bfloat16 needs --jit=false or auto: the data are '
        'simulated by an eager decoder call (check_chains says why XLA cannot '
        'run the chains).')
  chains = check_chains(job.chains, job.model.precision, 'bdmc')
  outputs = output_files.OutputFiles(
      'bdmc', job.output_dir, ('bdmc.json', 'simulated.npz', 'bdmc.png'),
      overwrite=job.overwrite)
  outputs.prepare()
  decoder, model_config = curve_run.load_decoder(job.model, job.distortion,
                                                 'bdmc')
  chains = chains._replace(decoder_dtype=decoder.dtype)
  distortion = curve_run.make_distortion(job.distortion, decoder.output_shape,
                                         job.model)
  try:
    points = tfrd.accuracy.check_betas(
        distortion, tfrd.schedule_from_settings(job.schedule), job.betas)
  except ValueError as error:
    raise ValueError(f'--rd_points: {error}') from None
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
      f'L={hmc.num_leapfrog_steps}, {hmc.step_size_mode} step sizes'
      f'{", Hessian mass matrix" if hmc.mass_matrix == "hessian" else ""}\n')
  results = tfrd.bdmc_at_points(
      decoder, distortion, points, num_images=job.num_images,
      latent_dim=decoder.latent_dim, schedule=schedule, chains=chains,
      control=tfrd.RunControl(progress=progress_lib.ProgressPrinter(
          passes * points.size)))
  records = [tfrd.accuracy.point_record(result, chains, True, per_image=True)
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
          'mass_matrix': hmc.mass_matrix,
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
