r"""BDMC gaps: how tight the AIS curve of a decoder is, at chosen points.

    python -m apps.bdmc --model=decoder.keras --rd_points=0.1,1,1000 \
        --num_images=10 --output_dir=runs/bdmc

For every point β of --rd_points (default: --beta_min, 1 and --beta_max)
this simulates --num_images images from the model at β (z ~ p(z), x from the
channel exp(-β d(x, f(z))); `tfrd.bdmc.simulate_data`), runs forward AIS from
the prior to β (a stochastic lower bound on log Z_β(x)) and reverse AIS from
the generating z back to the prior (a stochastic upper bound), along the
schedule an `apps.rd_curve` run with the same flags would take to β. The
difference, the BDMC gap (paper §2.1, appendix D.3.2, Fig. 9), bounds the
error of that run's log Ẑ, hence of its rate, at β.

--decoder_precision and --device are those of `apps.rd_curve`
(`apps.precision_flags`): the decoder computes in float32 with TF32 off
unless asked otherwise, and the choice is recorded in bdmc.json. The data
are simulated by an eager decoder call and XLA computes a bfloat16 decoder
differently (`adapters.precision`), so with --decoder_precision=bfloat16 the
chains run without XLA (--jit=auto) or the run is refused (--jit=true):
otherwise they would sample another function than the one the data came
from, and the upper bound would not be guaranteed.

Writes into --output_dir: bdmc.json (per point: beta, lower, upper, gap mean
and max, per-image values, the forward rate and distortion; settings and
timing), bdmc.png (the forward curve of each point's simulated data with its
gap annotated, and the gaps against β) and simulated.npz (the simulated
x and z of every point).
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

from adapters import keras_decoder
from adapters import models
from apps import ais_flags
from apps import output_flags
from pipelines import jobs
from apps import model_flags
from pipelines import output_files
from apps import precision_flags
from pipelines import progress as progress_lib
import tfrd
from tfrd import bdmc as bdmc_lib
from tfrd import randomness

FLAGS = flags.FLAGS

FORMAT = 'tfrd.bdmc/1'

flags.DEFINE_string('model', None,
                    'Path of the decoder, a Keras 3 .keras file.')
flags.DEFINE_list(
    'rd_points', None,
    'Inverse temperatures at which to measure the BDMC gap, e.g. 0.1,1,1000 '
    '(default: --beta_min, 1 and the largest beta of the schedule; only 1 '
    'for Bernoulli NLL, whose channel is normalized only there). Each must '
    'lie in (0, largest beta of the schedule].')
flags.DEFINE_integer('num_images', 10,
                     'Images simulated from the model at each point.')
flags.DEFINE_string('output_dir', 'bdmc_output',
                    'Directory for bdmc.json, bdmc.png and simulated.npz.')
output_flags.define_overwrite_flag()
ais_flags.define_ais_flags()
model_flags.define_model_loading_flags()
precision_flags.define_precision_flags()
# Show the AIS, model loading and precision flags in --help, not only under
# --helpfull.
flags.adopt_module_key_flags(ais_flags)
flags.adopt_module_key_flags(model_flags)
flags.adopt_module_key_flags(precision_flags)


def _curve_rd_betas():
  """The RD betas of the curve run these flags describe."""
  if FLAGS.rd_betas:
    try:
      return np.array([float(value) for value in FLAGS.rd_betas])
    except ValueError:
      raise ValueError(f'--rd_betas must be numbers, got {FLAGS.rd_betas}.'
                       ) from None
  return tfrd.rd_point_betas(FLAGS.num_rd_points, FLAGS.beta_max,
                             beta_min=FLAGS.beta_min,
                             include_beta_one=FLAGS.include_beta_one)


def _points(distortion, beta_max):
  """The BDMC points from --rd_points, checked.

  Raises:
    ValueError: for non-numbers, points outside (0, beta_max], or points
      where the distortion has no exactly sampled channel.
  """
  if not FLAGS.rd_points:
    return np.array(bdmc_lib.default_bdmc_betas(
        distortion, beta_min=min(FLAGS.beta_min, beta_max), beta_max=beta_max))
  try:
    points = np.array(sorted({float(value) for value in FLAGS.rd_points}))
  except ValueError:
    raise ValueError(f'--rd_points must be numbers, got {FLAGS.rd_points}.'
                     ) from None
  if not np.all(np.isfinite(points)) or points[0] <= 0 or (
      points[-1] > beta_max * (1 + 1e-12)):
    raise ValueError(
        f'--rd_points must lie in (0, {beta_max:g}] (the schedule ends at '
        f'the largest RD beta, --beta_max or the last --rd_betas), got '
        f'{points.tolist()}.')
  return points


def _schedule(points):
  """The curve's schedule with the BDMC points added as RD points.

  Each point's runs then take exactly the temperatures an `apps.rd_curve`
  run with these flags takes to reach it (plus the few fills the added
  points bring), so the gap is the gap of that run.
  """
  merged = np.union1d(_curve_rd_betas(), points)
  saved = FLAGS.rd_betas
  FLAGS.rd_betas = [repr(float(beta)) for beta in merged]
  try:
    return ais_flags.schedule_from_flags()
  finally:
    FLAGS.rd_betas = saved


def _jit_compile(ais_kwargs):
  """The AIS runs' `jit_compile` under --decoder_precision.

  Args:
    ais_kwargs: `ais_flags.ais_kwargs_from_flags()`.

  Returns:
    Its `jit_compile`, False for a bfloat16 decoder under --jit=auto (see the
    module docstring; said on stderr).

  Raises:
    ValueError: for --decoder_precision=bfloat16 with --jit=true.
  """
  jit_compile = ais_kwargs['jit_compile']
  if FLAGS.decoder_precision != 'bfloat16' or jit_compile is False:
    return jit_compile
  if jit_compile is True:
    raise ValueError(
        '--decoder_precision=bfloat16 needs --jit=false or auto: the data are '
        'simulated by an eager decoder call, XLA computes bfloat16 '
        'differently, and the chains would sample another function than the '
        'one the data came from (no guaranteed upper bound).')
  sys.stderr.write('bdmc: --decoder_precision=bfloat16: the AIS runs go '
                   'without XLA, computing the decoder as the eager call that '
                   'simulates the data does.\n')
  return False


def _point_record(result):
  forward = result.forward.estimates[-1]
  return {
      'beta': result.beta,
      'lower': result.mean_lower,
      'upper': result.mean_upper,
      'gap': result.mean_gap,
      'gap_max': result.max_gap,
      'gap_stderr': result.gap_stderr,
      'lower_per_image': result.lower.tolist(),
      'upper_per_image': result.upper.tolist(),
      'gap_per_image': result.gap.tolist(),
      'forward_rate': float(np.mean(forward.rate)),
      'forward_distortion': float(np.mean(forward.distortion)),
      'forward_curve': {
          'beta': result.forward.betas.tolist(),
          'rate': [float(np.mean(e.rate)) for e in result.forward.estimates],
          'distortion': [float(np.mean(e.distortion))
                         for e in result.forward.estimates],
      },
      'num_transitions': int(result.num_transitions),
      'forward_accept_rate': float(result.forward.accept_rates[-1]),
      'reverse_accept_rate': float(result.reverse_accept_rate),
      'decoder_gradients_per_chain': int(result.num_decoder_gradients),
      'jit_compiled': bool(result.forward.jit_compiled),
      'wall_time_s': {phase: float(seconds)
                      for phase, seconds in result.wall_time_s.items()},
  }


def plot_bdmc(records, path, title=None):
  """Fig. 9-style figure: each point's forward curve on its simulated data,
  its BDMC gap annotated, and the gaps against β.

  Args:
    records: the 'points' of bdmc.json.
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
        f'gap {record["gap"]:.3g} nats\n(max {record["gap_max"]:.3g})',
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
  gaps = [record['gap'] for record in records]
  lowest = [min(record['gap_per_image']) for record in records]
  highest = [record['gap_max'] for record in records]
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


def run(model_path, output_dir):
  """Loads, simulates, runs BDMC at every point and writes; returns the
  `bdmc.json` document."""
  start = time.time()
  ais_flags.check_flags()
  if FLAGS.num_images < 1:
    raise ValueError(f'--num_images must be positive, got {FLAGS.num_images}.')
  ais_kwargs = ais_flags.ais_kwargs_from_flags()
  ais_kwargs['jit_compile'] = _jit_compile(ais_kwargs)
  outputs = output_files.OutputFiles(
      'bdmc', output_dir, ('bdmc.json', 'simulated.npz', 'bdmc.png'),
      overwrite=FLAGS.overwrite)
  outputs.prepare()
  decoder = models.load_decoder(
      model_path, **model_flags.loading_kwargs_from_flags('bdmc'))
  decoder, precision_config = precision_flags.apply_precision_flags(decoder,
                                                                    'bdmc')
  distortion = ais_flags.distortion_from_flags(decoder.output_shape)
  beta_max = float(_curve_rd_betas()[-1]) if FLAGS.rd_betas else (
      FLAGS.beta_max)
  points = _points(distortion, beta_max)
  schedule = _schedule(points)
  # Each point: the forward passes, then one reverse pass.
  passes = tfrd.passes.num_passes(FLAGS.step_size_mode) + 1
  sys.stderr.write(
      f'bdmc: {model_path} (latent {decoder.latent_dim}, output '
      f'{decoder.output_shape}); {FLAGS.num_images} images simulated at each '
      f'of beta = {", ".join(f"{b:g}" for b in points)}; schedule of '
      f'{schedule.num_transitions} transitions to beta = '
      f'{schedule.betas[-1]:g}, {FLAGS.num_chains} chains each way, '
      f'L={FLAGS.leapfrog_steps}, {FLAGS.step_size_mode} step sizes\n')
  results = bdmc_lib.bdmc_at_points(
      decoder, distortion, points, num_images=FLAGS.num_images,
      latent_dim=decoder.latent_dim, schedule=schedule,
      progress=progress_lib.ProgressPrinter(passes * points.size),
      **ais_kwargs)
  records = [_point_record(result) for result in results]
  document = {
      'format': FORMAT,
      'points': records,
      'max_gap': max(record['gap'] for record in records),
      'config': {
          'model': os.path.abspath(model_path),
          'latent_dim': decoder.latent_dim,
          'decoder_output_shape': list(decoder.output_shape),
          **precision_config,
          'distortion': distortion.get_config(),
          'num_images': FLAGS.num_images,
          'num_chains': FLAGS.num_chains,
          'num_leapfrog_steps': FLAGS.leapfrog_steps,
          'step_size_mode': FLAGS.step_size_mode,
          'reverse_step_sizes': 'the forward run\'s table, frozen',
          'initial_step_size': FLAGS.initial_step_size,
          'target_accept_prob': FLAGS.target_accept,
          'seed': FLAGS.seed,
          'schedule': {
              'kind': FLAGS.schedule,
              'num_intermediate_base': FLAGS.num_intermediate,
              'num_transitions_full': int(schedule.num_transitions),
              'beta_max': float(schedule.betas[-1]),
              'min_before_first': FLAGS.min_before_first,
              'min_between': FLAGS.min_between,
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
            title=f'BDMC gaps of {os.path.basename(model_path)} '
                  f'({distortion.name})')
  _print_summary(document, output_dir)
  return document


def _print_summary(document, output_dir):
  print(f'{"beta":>10} {"lower":>12} {"upper":>12} {"gap":>8} {"gap max":>8} '
        f'{"rate":>9} {"transitions":>11}')
  for record in document['points']:
    print(f'{record["beta"]:10.4g} {record["lower"]:12.4f} '
          f'{record["upper"]:12.4f} {record["gap"]:8.4f} '
          f'{record["gap_max"]:8.4f} {record["forward_rate"]:9.3f} '
          f'{record["num_transitions"]:11d}')
  print(f'largest mean BDMC gap {document["max_gap"]:.4f} nats; wall time '
        f'{document["timing"]["wall_time_s"]:.1f} s; wrote '
        f'{os.path.join(output_dir, "bdmc.json")}, bdmc.png, simulated.npz')


def main(argv):
  ais_flags.apply_preset()
  if not FLAGS.model:
    raise app.UsageError('--model is required: a Keras 3 .keras decoder.')
  return jobs.run_job(
      'bdmc', lambda: precision_flags.run_on_device_from_flags(
          lambda: run(FLAGS.model, FLAGS.output_dir)),
      (keras_decoder.ModelError, tfrd.DecoderOutputError, ValueError,
       OSError))


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
