r"""How accurate is an AIS curve, and which settings buy accuracy cheapest?

    TFRD_DATA_DIR=../shared/data python -m benchmarks.accuracy_study \
        --output_dir=runs/accuracy_study            # ~10 min on 2 cores
    python -m benchmarks.accuracy_study --quick --output_dir=runs/study

On a linear Gaussian decoder fitted to MNIST (probabilistic PCA, latent 10,
as `apps.linear_vae` fits it; a synthetic linear decoder of the same shape
when MNIST is not available), whose log Z_β(x), R_β(x) and D_β(x) are known
exactly (appendix D.3.1), it measures for each setting:

- the BDMC gap (`tfrd.bdmc`, paper §2.1, appendix D.3.2) at a few points β
  of the curve, on data simulated from the model at β;
- how far the forward bound log Ẑ_fwd, the reverse bound log Ẑ_rev and the
  rate R̂ = -log Ẑ - βD̂ (eq. 15) are from the exact values there;
- for the schedule and chain series, also the largest rate error of a whole
  forward curve on real test images against the closed form;
- the cost: decoder gradient evaluations per chain of the curve run (both
  passes of the two-pass step sizes) and wall time.

Each BDMC point is recorded as every BDMC point is
(`tfrd.accuracy.point_record`: mean_gap, max_gap, gap_stderr,
mean_lower, mean_upper, ...), with the exact values' errors added.

Studies: `schedule` (number of intermediate distributions), `chains`,
`leapfrog` (L at a fixed gradient budget per pass), `accept` (target
acceptance of the step-size adaptation), `step_sizes` (per-chain or shared
per image; two-pass or adaptive). Prints one table per study and writes
accuracy_study.json and accuracy_study.png (gap and rate error against cost)
into --output_dir.
"""

import dataclasses
import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

from pipelines import jobs

from benchmarks import study_flags
import tfrd

FLAGS = flags.FLAGS

STUDIES = ('schedule', 'chains', 'leapfrog', 'accept', 'step_sizes')

study_flags.define_output_flags(
    'accuracy_study', 'accuracy_study.json and .png',
    'A smoke-sized study (about a minute and a half): 8 images, 4 chains, '
    'short schedules.')
study_flags.define_linear_decoder_flags(10000,
                                        'MNIST images to fit the decoder.')
# Show the shared flags in --help, not only under --helpfull.
flags.adopt_module_key_flags(study_flags)
flags.DEFINE_integer('num_images', None,
                     'Images per point (default 32; 8 with --quick).')
flags.DEFINE_integer('num_chains', None,
                     'Chains per image of the baseline (default 8; 4 with '
                     '--quick).')
flags.DEFINE_list('points', ['1', '1000'],
                  'Inverse temperatures of the BDMC points; the largest is '
                  'the end of every schedule.')
flags.DEFINE_integer(
    'budget', None,
    'Decoder gradient evaluations per chain and pass for the leapfrog, '
    'accept and step_sizes studies (schedule length = budget / L; default '
    '5000; 1000 with --quick).')
flags.DEFINE_list('studies', list(STUDIES), f'Studies to run, of {STUDIES}.')
flags.DEFINE_integer('seed', 0, 'Seed of the simulations and chains.')
flags.DEFINE_enum('mass_matrix', 'hessian', ['hessian', 'identity'],
                  "The chains' HMC mass matrix: tfrd's default 'hessian', or "
                  "'identity' (plain HMC, the kernel the committed study in "
                  'docs/accuracy.md chose L and the schedule with). The '
                  "step_sizes study's fixed rows always use the identity.")
flags.DEFINE_enum('jit', 'false', ['auto', 'true', 'false'],
                  'XLA-compile the AIS loop. Off by default here: the study '
                  'makes ~80 short runs, each of which would compile anew '
                  '(seconds each), and XLA saves little on long ones for '
                  'this small decoder.')

# Baseline HMC settings: the apps' target acceptance and step sizes at L = 5:
# the leapfrog study varies L, and L = 5 affords the longer schedules.
_BASE_L = 5


@dataclasses.dataclass(frozen=True)
class StudySettings:
  """What the accuracy study runs.

  Attributes:
    points: increasing inverse temperatures of the BDMC points; the largest
      is the end of every schedule.
    studies: names of `STUDIES` to run.
    decoder: the linear decoder (`study_flags.LinearDecoderSettings`).
    num_images, num_chains, budget: images per point, chains per image of
      the baseline, and decoder gradients per chain and pass of the
      leapfrog, accept and step_sizes studies (None: the defaults of
      `sizes`, smaller with `quick`).
    quick: a smoke-sized study.
    seed: seed of the simulations and chains.
    mass_matrix: the chains' `tfrd.HMCSettings.mass_matrix` (the identity
      for fixed step sizes, which adapt nothing).
    jit: 'auto', 'true' or 'false': XLA for the AIS loop.
    output_dir: where accuracy_study.json and .png go.
  """
  points: tuple = (1.0, 1000.0)
  studies: tuple = STUDIES
  decoder: study_flags.LinearDecoderSettings = (
      study_flags.LinearDecoderSettings(num_train=10000))
  num_images: int = None
  num_chains: int = None
  budget: int = None
  quick: bool = False
  seed: int = 0
  mass_matrix: str = 'hessian'
  jit: str = 'false'
  output_dir: str = 'accuracy_study_output'

  def sizes(self):
    """Every size of the study, as accuracy_study.json's 'settings'."""
    quick = self.quick
    return {
        'num_images': self.num_images or (8 if quick else 32),
        'num_chains': self.num_chains or (4 if quick else 8),
        'budget': self.budget or (1000 if quick else 5000),
        'schedule_lengths': [50, 200] if quick else [250, 1000, 4000],
        'chain_counts': [2, 16] if quick else [2, 8, 32],
        'chain_length': 200 if quick else 1000,
        'leapfrog_steps': [2, 10] if quick else [1, 2, 5, 10, 20],
        'accepts': [0.65, 0.9] if quick else [0.5, 0.65, 0.8, 0.9],
        'mass_matrix': self.mass_matrix,
    }


def settings_from_flags():
  """The `StudySettings` the flags describe.

  Raises:
    app.UsageError: for unknown --studies or --points that are not numbers.
  """
  unknown = sorted(set(FLAGS.studies) - set(STUDIES))
  if unknown:
    raise app.UsageError(f'Unknown --studies {unknown}; choose from {STUDIES}.')
  try:
    points = sorted(float(beta) for beta in FLAGS.points)
  except ValueError:
    raise app.UsageError(f'--points must be numbers, got {FLAGS.points}.'
                         ) from None
  return StudySettings(
      points=tuple(points), studies=tuple(FLAGS.studies),
      decoder=study_flags.linear_decoder_from_flags(),
      num_images=FLAGS.num_images, num_chains=FLAGS.num_chains,
      budget=FLAGS.budget, quick=FLAGS.quick, seed=FLAGS.seed,
      mass_matrix=FLAGS.mass_matrix, jit=FLAGS.jit,
      output_dir=FLAGS.output_dir)


def _linear_decoder(decoder_settings):
  """(keras decoder, kernel, bias, test images, description)."""
  # 64 test images: the most any setting uses.
  problem = study_flags.linear_problem('accuracy_study', decoder_settings, 64)
  latent_dim = decoder_settings.latent_dim
  if problem.num_fitted is None:
    description = (f'synthetic linear decoder (latent {latent_dim}, 784 '
                   f'outputs)')
  else:
    description = (f'linear Gaussian decoder (latent {latent_dim}) '
                   f'fitted to {decoder_settings.num_train} MNIST training '
                   f'images (ML noise scale {problem.noise_scale:.4f})')
  # The exact values use the float32 weights the decoder actually holds.
  kernel32, bias32 = (w.astype(np.float64)
                      for w in problem.decoder.get_weights())
  return problem.decoder, kernel32, bias32, problem.test, description


def _schedule(num_intermediate, points):
  """The apps' default construction, scaled: a geometric base of
  `num_intermediate` distributions from 1/12 to the largest point, a linear
  fill of num_intermediate / 5 before 1/12 (800 for the apps' 4000), and
  RD points at 10 log-spaced betas plus the BDMC points."""
  beta_max = float(points[-1])
  rd_betas = np.union1d(tfrd.rd_point_betas(10, beta_max), points)
  return tfrd.build_schedule(
      rd_betas, tfrd.geometric_betas(num_intermediate, beta_max, 1.0 / 12.0),
      min_before_first=max(num_intermediate // 5, 1), min_between=0)


class Study:
  """Runs configurations on shared simulated data and collects rows."""

  def __init__(self, decoder, kernel, bias, test_images, settings):
    """Simulates the data of every point.

    Args:
      decoder: the linear Keras decoder.
      kernel, bias: its float64 weights, for the exact values.
      test_images: the real images of the real-data curves.
      settings: the `StudySettings` (points, seed, jit, sizes).
    """
    from tfrd import bdmc as bdmc_lib  # pylint: disable=g-import-not-at-top
    sizes = settings.sizes()
    self.decoder = decoder
    self.kernel = kernel
    self.bias = bias
    self.test_images = test_images[:sizes['num_images']]
    self.points = list(settings.points)
    self.settings = sizes
    self.seed = settings.seed
    self.distortion = tfrd.SquaredError()
    self.jit = {'auto': 'auto', 'true': True, 'false': False}[settings.jit]
    # One simulated data set per point, shared by every configuration, so
    # that the comparisons are paired.
    self.simulated = {}
    self.exact = {}
    for index, beta in enumerate(self.points):
      simulated = bdmc_lib.simulate_data(
          decoder, self.distortion, beta, sizes['num_images'],
          latent_dim=kernel.shape[0], seed=self.seed * 1000 + index)
      self.simulated[beta] = simulated
      self.exact[beta] = tfrd.linear_rate_distortion(
          kernel, bias, simulated.x, [beta], self.distortion)
    self.rows = []
    self._done = {}

  def run(self, study, label, num_intermediate, num_chains=None,
          num_leapfrog_steps=_BASE_L, target_accept_prob=0.65,
          shared_step_size=False, step_size_mode='two_pass',
          real_curve=False):
    """Runs BDMC at every point (and optionally a real-data curve)."""
    # pylint: disable=g-import-not-at-top
    from pipelines import bdmc_points
    from tfrd import bdmc as bdmc_lib
    # pylint: enable=g-import-not-at-top
    num_chains = num_chains or self.settings['num_chains']
    key = (num_intermediate, num_chains, num_leapfrog_steps,
           target_accept_prob, shared_step_size, step_size_mode)
    if key in self._done and (real_curve <= ('real_max_abs_rate_error' in
                                             self._done[key])):
      # The same configuration in another study (e.g. the baseline): reuse.
      row = dict(self._done[key], study=study, label=label)
      self.rows.append(row)
      return row
    schedule = _schedule(num_intermediate, self.points)
    chains = tfrd.ChainSettings(
        num_chains=num_chains, seed=self.seed, jit_compile=self.jit,
        hmc=tfrd.HMCSettings(num_leapfrog_steps=num_leapfrog_steps,
                             target_accept_prob=target_accept_prob,
                             shared_step_size=shared_step_size,
                             step_size_mode=step_size_mode,
                             mass_matrix=('identity' if step_size_mode == 'fixed'
                                          else self.settings['mass_matrix'])))
    start = time.time()
    row = {'study': study, 'label': label,
           'num_intermediate': num_intermediate,
           'num_transitions': int(schedule.num_transitions),
           'num_chains': num_chains, 'num_leapfrog_steps': num_leapfrog_steps,
           'target_accept_prob': target_accept_prob,
           'shared_step_size': shared_step_size,
           'step_size_mode': step_size_mode, 'points': {}}
    for beta in self.points:
      result = bdmc_lib.run_bdmc(
          self.decoder, self.distortion,
          bdmc_lib.truncate_schedule(schedule, beta), self.simulated[beta],
          chains=chains)
      exact = self.exact[beta]
      estimate = result.forward.estimates[-1]
      record = tfrd.accuracy.point_record(
          result, chains, beta in schedule.betas, per_image=True)
      record['settings']['seeds'] = (
          'data simulated with seed * 1000 + the point\'s index, shared by '
          'every setting; chains with seed (tfrd.bdmc.run_bdmc)')
      # What the closed form adds: how far each bound and the rate are off.
      record.update({
          'lower_error': float(np.mean(result.lower - exact.log_z[0])),
          'upper_error': float(np.mean(result.upper - exact.log_z[0])),
          'rate_error': float(np.mean(estimate.rate - exact.rate[0])),
          'exact_log_z_per_image': exact.log_z[0].tolist(),
      })
      row['points'][repr(beta)] = record
    row['curve_gradients_per_chain'] = tfrd.passes.decoder_gradients_per_chain(
        schedule.num_transitions, num_leapfrog_steps, step_size_mode)
    if real_curve:
      run = tfrd.run_ais(self.decoder, self.test_images, self.distortion,
                         schedule, latent_dim=self.kernel.shape[0],
                         chains=chains)
      exact = tfrd.linear_rate_distortion(self.kernel, self.bias,
                                          self.test_images, run.betas,
                                          self.distortion)
      errors = (np.stack([e.rate for e in run.estimates]).mean(1) -
                exact.rate.mean(1))
      row['real_max_abs_rate_error'] = float(np.max(np.abs(errors)))
      row['real_mean_rate_error'] = float(np.mean(errors))
    row['wall_time_s'] = time.time() - start
    self.rows.append(row)
    self._done[key] = row
    top = row['points'][repr(self.points[-1])]
    sys.stderr.write(
        f'[{study}] {label}: gap at beta={self.points[-1]:g} '
        f'{top["mean_gap"]:.3f} nats, {row["wall_time_s"]:.0f} s\n')
    sys.stderr.flush()
    return row


def run_studies(study, settings, studies):
  """Runs the chosen studies; returns the rows."""
  budget = settings['budget']
  base_length = budget // _BASE_L
  if 'schedule' in studies:
    for length in settings['schedule_lengths']:
      study.run('schedule', f'n={length}', length, real_curve=True)
  if 'chains' in studies:
    for chains in settings['chain_counts']:
      study.run('chains', f'C={chains}', settings['chain_length'],
                num_chains=chains, real_curve=True)
  if 'leapfrog' in studies:
    for steps in settings['leapfrog_steps']:
      study.run('leapfrog', f'L={steps}', budget // steps,
                num_leapfrog_steps=steps)
  if 'accept' in studies:
    for accept in settings['accepts']:
      study.run('accept', f'target {accept:g}', base_length,
                target_accept_prob=accept)
  if 'step_sizes' in studies:
    study.run('step_sizes', 'per-chain, two-pass', base_length)
    study.run('step_sizes', 'shared per image, two-pass', base_length,
              shared_step_size=True)
    study.run('step_sizes', 'per-chain, adaptive (1 pass)', base_length,
              step_size_mode='adaptive')
    study.run('step_sizes', 'per-chain, adaptive, 2x schedule', 2 * base_length,
              step_size_mode='adaptive')
  return study.rows


def format_tables(rows, points):
  """Markdown tables, one per study (gaps: mean ± standard error over
  images)."""
  lines = []
  for name in STUDIES:
    selected = [row for row in rows if row['study'] == name]
    if not selected:
      continue
    header = ['setting', 'transitions', 'grad/chain']
    for beta in points:
      header += [f'gap β={beta:g}', f'fwd err β={beta:g}',
                 f'rev err β={beta:g}', f'ΔR β={beta:g}']
    header += ['gap×grad (k·nat)']
    real = any('real_max_abs_rate_error' in row for row in selected)
    if real:
      header += ['real max \\|ΔR\\|']
    header += ['time (s)']
    lines += [f'### {name}', '', '| ' + ' | '.join(header) + ' |',
              '|' + ' --- |' * len(header)]
    for row in selected:
      cells = [row['label'], str(row['num_transitions']),
               str(row['curve_gradients_per_chain'])]
      for beta in points:
        point = row['points'][repr(beta)]
        cells += [tfrd.accuracy.gap_text(point, '.2f').replace(' ± ', '±'),
                  f'{point["lower_error"]:+.3f}',
                  f'{point["upper_error"]:+.3f}', f'{point["rate_error"]:+.3f}']
      top = row['points'][repr(points[-1])]
      cost = row['curve_gradients_per_chain'] / 1000
      cells.append(f'{top["mean_gap"] * cost:.1f}')
      if real:
        cells.append(f'{row["real_max_abs_rate_error"]:.3f}'
                     if 'real_max_abs_rate_error' in row else '—')
      cells.append(f'{row["wall_time_s"]:.0f}')
      lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('')
  return '\n'.join(lines)


def plot(rows, points, path):
  """The study at the top point, in two panels.

  Left: gap (± standard error) and |rate error| against decoder gradients
  for the schedule lengths and chain counts. Right: the gap of every
  setting with its cost, one bar each, grouped by study, so settings of
  equal cost compare side by side.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  key = repr(points[-1])
  figure, (cost_axis, bar_axis) = plt.subplots(
      1, 2, figsize=(12, 5.5), gridspec_kw={'width_ratios': [1, 1.2]})
  for name, marker in (('schedule', 'o-'), ('chains', 's--')):
    selected = [row for row in rows if row['study'] == name]
    if not selected:
      continue
    cost = [row['curve_gradients_per_chain'] for row in selected]
    if name == 'chains':  # Same gradients per chain: total cost scales.
      cost = [c * row['num_chains'] / selected[0]['num_chains']
              for c, row in zip(cost, selected)]
    gaps = [row['points'][key]['mean_gap'] for row in selected]
    stderrs = [row['points'][key]['gap_stderr'] for row in selected]
    cost_axis.errorbar(cost, gaps, yerr=stderrs, fmt=marker, capsize=3,
                       label=f'BDMC gap, {name}')
    cost_axis.plot(cost, [abs(row['points'][key]['rate_error'])
                          for row in selected], marker[0] + ':', alpha=0.6,
                   label=f'|R̂ - R|, {name}')
    for x, y, row in zip(cost, gaps, selected):
      cost_axis.annotate(row['label'], (x, y), textcoords='offset points',
                         xytext=(5, 4), fontsize=8)
  cost_axis.set_xscale('log')
  # Symmetric log: a gap can come out slightly negative (Monte Carlo noise).
  cost_axis.set_yscale('symlog', linthresh=0.1)
  cost_axis.margins(y=0.15)  # room for the labels of the top points
  cost_axis.set_ylim(bottom=0.0)
  cost_axis.set_xlabel('decoder gradients per chain\n(chains: times the '
                       'chain count over the baseline\'s)')
  cost_axis.set_ylabel(f'nats at β = {points[-1]:g}')
  cost_axis.set_title('longer schedules against more chains')
  cost_axis.grid(alpha=0.3, which='both')
  cost_axis.legend(fontsize=8)

  labels, gaps, stderrs, colors = [], [], [], []
  palette = dict(zip(STUDIES, plt.rcParams['axes.prop_cycle'].by_key()[
      'color']))
  for name in STUDIES:
    for row in rows:
      if row['study'] != name:
        continue
      point = row['points'][key]
      labels.append(f'{name}: {row["label"]} '
                    f'({row["curve_gradients_per_chain"] / 1000:.0f}k grad)')
      gaps.append(point['mean_gap'])
      stderrs.append(point['gap_stderr'])
      colors.append(palette[name])
  positions = list(range(len(labels)))[::-1]
  bar_axis.barh(positions, gaps, xerr=stderrs, color=colors, capsize=2)
  bar_axis.set_yticks(positions, labels, fontsize=8)
  bar_axis.set_xscale('symlog', linthresh=0.1)
  bar_axis.set_xlabel(f'BDMC gap at β = {points[-1]:g} (nats, ± s.e.)')
  bar_axis.set_title('every setting (lower is better)')
  bar_axis.grid(alpha=0.3, axis='x', which='both')
  figure.suptitle('AIS accuracy against cost: linear MNIST decoder, exact '
                  'log Z')
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)
  return path


def run(settings):
  """Runs the studies, prints the tables, writes the JSON and the figure."""
  points = list(settings.points)
  start = time.time()
  sizes = settings.sizes()
  decoder, kernel, bias, test_images, description = _linear_decoder(
      settings.decoder)
  study = Study(decoder, kernel, bias, test_images, settings)
  sys.stderr.write(f'accuracy_study: {description}; points {points}; '
                   f'{sizes}\n')
  rows = run_studies(study, sizes, settings.studies)
  tables = format_tables(rows, points)
  print(f'\n{description}; squared error; {sizes["num_images"]} images '
        f'simulated per point; seed {settings.seed}.\n')
  print(tables)
  elapsed = time.time() - start
  print(f'total wall time {elapsed:.0f} s')
  output_dir = settings.output_dir
  os.makedirs(output_dir, exist_ok=True)
  document = {'format': 'tfrd.accuracy_study/1', 'decoder': description,
              'distortion': 'mse', 'points': points, 'settings': sizes,
              'quick': settings.quick, 'seed': settings.seed, 'rows': rows,
              'wall_time_s': elapsed, 'argv': sys.argv}
  with open(os.path.join(output_dir, 'accuracy_study.json'), 'w') as f:
    json.dump(document, f, indent=1)
  plot(rows, points, os.path.join(output_dir, 'accuracy_study.png'))
  print(f'wrote {output_dir}/accuracy_study.json, accuracy_study.png')
  return 0


def main(argv):
  del argv  # jobs.run refused stray arguments and set the log level.
  return run(settings_from_flags())


if __name__ == '__main__':
  jobs.run(main)
