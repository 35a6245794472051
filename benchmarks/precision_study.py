r"""What does reduced decoder precision do to an AIS rate-distortion curve?

    TFRD_DATA_DIR=../shared/data python -m benchmarks.precision_study \
        --output_dir=runs/precision_study          # a few minutes, 2 cores
    python -m benchmarks.precision_study --quick --output_dir=runs/ps

Why: TensorFlow runs "float32" matmuls in TF32 on Ampere+ GPUs unless told
not to, TFP warns that this may hinder MCMC convergence, and bfloat16 is the
accelerators' fast dtype. HMC feels rounding through its Metropolis test:
rounding errors of the decoder output enter the energy difference multiplied
by β and do not shrink with the step size (`adapters.precision`). This study
measures, on a CPU, how far each `--decoder_precision` moves a curve, and
TF32, which a CPU does not have, emulated (`tf32_emulated`: the study
rebuilds the decoder with its Dense/convolution matmuls rounded to TF32,
`benchmarks.tf32_emulation`):

(a) Linear MNIST decoder (probabilistic PCA fitted as `apps.linear_vae`
    fits it; a synthetic linear decoder without MNIST): one AIS curve per
    precision on the same test images and seed, against the exact curve of
    the float32 decoder (`tfrd.linear_rate_distortion`): the largest |ΔR|
    (nats) and |ΔD|/D over the RD points, the mean ΔR, the HMC acceptance at
    the largest β. Column "weights": how far rounding the weights alone
    (to bfloat16 or TF32) moves the exact rate; the JSON also compares the
    AIS curve with the exact curve of those rounded weights.
(b) The pretrained MNIST GAN (zoo/pretrained/mnist_gan_shallow_10.keras,
    MLP 10 -> 1024 -> 784): BDMC (`tfrd.bdmc_at_points`) at β = 1000 with
    squared error: data simulated from the decoder in that precision, the
    gap between reverse and forward AIS bounds on log Z (nats; smaller is a
    tighter, better-mixing run) and both acceptance rates. BDMC runs without
    XLA by default (--bdmc_jit): its data are simulated by an eager decoder
    call, and XLA computes a bfloat16 decoder differently (column "XLA
    diff": the largest output difference between an eager and a compiled
    call), which would make the chains sample another function than the one
    that generated the data, and the upper bound would no longer be
    guaranteed.

Every precision runs the same seed, so the accuracy figures are a
deterministic function of the flags (wall times are not). Prints two tables
and writes precision_study.json into --output_dir.
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
from benchmarks import tf32_emulation
import tfrd

FLAGS = flags.FLAGS

# What --precisions may name, for --help (which answers without loading
# TensorFlow): adapters.precision.PRECISIONS, the decoder precisions the apps
# offer, and the TF32 emulation this study applies itself. The flags are
# checked against the adapter's own tuple (`settings_from_flags`).
_PRECISION_NAMES = ['float32', 'tf32', 'bfloat16', tf32_emulation.PRECISION]

study_flags.define_output_flags(
    'precision_study', 'precision_study.json',
    'A smoke-sized study (under a minute on 2 idle cores, without XLA): 3 '
    'images, 3 chains, short schedules; its figures say only that the study '
    'runs.')
flags.DEFINE_list('precisions', ['float32', 'bfloat16', 'tf32_emulated'],
                  f'Decoder precisions to compare, of {_PRECISION_NAMES} '
                  f'(tf32 acts on Ampere+ GPUs only; tf32_emulated rounds '
                  f'as TF32 does on any device).')
flags.DEFINE_list('parts', ['linear', 'bdmc'],
                  "Parts to run: 'linear' (closed form) and/or 'bdmc' "
                  '(pretrained GAN).')
study_flags.define_linear_decoder_flags(
    None, 'MNIST images to fit the linear decoder (default 10000; 2000 with '
    '--quick).')
flags.DEFINE_integer('num_images', None,
                     'Test images of the linear curves (default 10; 3 with '
                     '--quick).')
flags.DEFINE_integer('num_chains', None,
                     'Chains per image (default 8; 3 with --quick).')
flags.DEFINE_integer('num_intermediate', None,
                     'Geometric base of the linear curves\' schedule '
                     '(default 1000; 100 with --quick).')
flags.DEFINE_float('beta_max', 1000.0, 'Largest β of the linear curves.')
flags.DEFINE_integer('bdmc_images', None,
                     'Images simulated for BDMC (default 4; 2 with --quick).')
flags.DEFINE_integer('bdmc_chains', None,
                     'BDMC chains per image and direction (default 4; 2 with '
                     '--quick).')
flags.DEFINE_integer('bdmc_intermediate', None,
                     'Geometric base of the BDMC schedule to β = 1000 '
                     '(default 1000; 40 with --quick).')
flags.DEFINE_integer('leapfrog_steps', 5, 'HMC leapfrog steps L.')
flags.DEFINE_enum('distortion', 'mse', ['mse', 'gaussian_nll'],
                  'Distortion of the linear curves (gaussian_nll: at the '
                  'fitted maximum-likelihood noise scale).')
flags.DEFINE_integer('seed', 0, 'Seed of the chains and simulations.')
flags.DEFINE_enum('jit', None, ['auto', 'true', 'false'],
                  "XLA-compile the AIS loop of the linear curves (default "
                  "'auto', as the apps; 'false' with --quick, whose runs are "
                  'too short to repay the compilation).')
flags.DEFINE_enum(
    'bdmc_jit', 'false', ['auto', 'true', 'false'],
    'XLA-compile the BDMC runs. Off by default: BDMC simulates its data with '
    'an eager call of the decoder, and XLA computes bfloat16 decoders '
    'differently from the eager kernels (outputs differ by up to a bfloat16 '
    'ulp), so with XLA the chains would sample another function than the '
    'one the data came from and the upper bound would not be guaranteed (on '
    "an earlier version of tfrd's random streams one image's gap came out "
    'at -3.5 nats).')
# Show the shared flags in --help, not only under --helpfull.
flags.adopt_module_key_flags(study_flags)

_BDMC_BETA = 1000.0
_PROGRAM = 'precision_study'


@dataclasses.dataclass(frozen=True)
class StudySettings:
  """What the precision study runs, every size decided.

  Attributes:
    precisions: `adapters.precision.PRECISIONS` and 'tf32_emulated'
      (`benchmarks.tf32_emulation`), one row each.
    parts: 'linear' (AIS against the closed form) and/or 'bdmc' (the
      pretrained GAN).
    decoder: the linear decoder (`study_flags.LinearDecoderSettings`, its
      num_train set).
    num_images, num_chains: test images and chains per image of the linear
      curves.
    num_intermediate: geometric base of the linear curves' schedule.
    beta_max: largest β of the linear curves.
    bdmc_images, bdmc_chains, bdmc_intermediate: images simulated, chains
      per image and direction, and the geometric base of the BDMC schedule.
    bdmc_beta: the β of the BDMC point.
    leapfrog_steps: HMC leapfrog steps L.
    jit, bdmc_jit: 'auto', 'true' or 'false': XLA for the linear curves and
      for BDMC.
    distortion: 'mse' or 'gaussian_nll' (the linear curves').
    seed: seed of the chains and simulations.
    quick: a smoke-sized study (recorded in the JSON).
    output_dir: where precision_study.json goes.
  """
  precisions: tuple = ('float32', 'bfloat16', 'tf32_emulated')
  parts: tuple = ('linear', 'bdmc')
  decoder: study_flags.LinearDecoderSettings = (
      study_flags.LinearDecoderSettings(num_train=10000))
  num_images: int = 10
  num_chains: int = 8
  num_intermediate: int = 1000
  beta_max: float = 1000.0
  bdmc_images: int = 4
  bdmc_chains: int = 4
  bdmc_intermediate: int = 1000
  bdmc_beta: float = _BDMC_BETA
  leapfrog_steps: int = 5
  jit: str = 'auto'
  bdmc_jit: str = 'false'
  distortion: str = 'mse'
  seed: int = 0
  quick: bool = False
  output_dir: str = f'{_PROGRAM}_output'

  def sizes(self):
    """The sizes as precision_study.json's 'settings' records them."""
    return {
        'num_train': self.decoder.num_train, 'num_images': self.num_images,
        'num_chains': self.num_chains,
        'num_intermediate': self.num_intermediate, 'beta_max': self.beta_max,
        'bdmc_images': self.bdmc_images, 'bdmc_chains': self.bdmc_chains,
        'bdmc_intermediate': self.bdmc_intermediate,
        'bdmc_beta': self.bdmc_beta, 'leapfrog_steps': self.leapfrog_steps,
        'jit': self.jit, 'bdmc_jit': self.bdmc_jit,
    }


def settings_from_flags():
  """The `StudySettings` the flags describe (--quick: smaller defaults).

  Raises:
    app.UsageError: for unknown --precisions or --parts.
  """
  from adapters import precision as precision_lib  # pylint: disable=g-import-not-at-top
  known = precision_lib.PRECISIONS + (tf32_emulation.PRECISION,)
  unknown = sorted(set(FLAGS.precisions) - set(known))
  if unknown:
    raise app.UsageError(f'Unknown --precisions {unknown}; choose from '
                         f'{list(known)}.')
  unknown = sorted(set(FLAGS.parts) - {'linear', 'bdmc'})
  if unknown:
    raise app.UsageError(f'Unknown --parts {unknown}; choose linear, bdmc.')
  quick = FLAGS.quick
  pick = lambda value, default, quick_default: (
      value if value is not None else (quick_default if quick else default))
  return StudySettings(
      precisions=tuple(FLAGS.precisions), parts=tuple(FLAGS.parts),
      decoder=dataclasses.replace(
          study_flags.linear_decoder_from_flags(),
          num_train=pick(FLAGS.num_train, 10000, 2000)),
      num_images=pick(FLAGS.num_images, 10, 3),
      num_chains=pick(FLAGS.num_chains, 8, 3),
      num_intermediate=pick(FLAGS.num_intermediate, 1000, 100),
      beta_max=FLAGS.beta_max,
      bdmc_images=pick(FLAGS.bdmc_images, 4, 2),
      bdmc_chains=pick(FLAGS.bdmc_chains, 4, 2),
      bdmc_intermediate=pick(FLAGS.bdmc_intermediate, 1000, 40),
      leapfrog_steps=FLAGS.leapfrog_steps,
      jit=FLAGS.jit or ('false' if quick else 'auto'),
      bdmc_jit=FLAGS.bdmc_jit, distortion=FLAGS.distortion, seed=FLAGS.seed,
      quick=quick, output_dir=FLAGS.output_dir)


def _jit(value):
  return {'auto': 'auto', 'true': True, 'false': False}[value]


def _in_precision(decoder, precision):
  """(`decoder` computing in `precision`, whether TF32 execution is on).

  The adapter's precisions go through `adapters.precision`; 'tf32_emulated'
  is this study's own (`benchmarks.tf32_emulation`), with TensorFlow's TF32
  switch off so that nothing is rounded twice.
  """
  from adapters import precision as precision_lib  # pylint: disable=g-import-not-at-top
  if precision == tf32_emulation.PRECISION:
    tf32 = precision_lib.set_tf32_execution('float32')
    return tf32_emulation.emulate_tf32(decoder), tf32
  tf32 = precision_lib.set_tf32_execution(precision)
  return precision_lib.apply_precision(decoder, precision), tf32


def _tf32_off():
  from adapters import precision as precision_lib  # pylint: disable=g-import-not-at-top
  precision_lib.set_tf32_execution('float32')


def _xla_discrepancy(model, latent_dim, seed):
  """Largest |f(z)| difference between an eager and an XLA-compiled call."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfrd import decoders  # pylint: disable=g-import-not-at-top
  latents = tf.constant(np.random.default_rng(seed).normal(
      size=(64, latent_dim)).astype(np.float32))
  call = lambda z: decoders.call_in_inference_mode(model, z)
  eager = np.asarray(call(latents))
  compiled = np.asarray(tf.function(call, jit_compile=True,
                                    autograph=False)(latents))
  return float(np.max(np.abs(compiled - eager)))


def _linear_problem(settings):
  """(keras decoder, test images [N, E], ML noise scale, description)."""
  problem = study_flags.linear_problem(_PROGRAM, settings.decoder,
                                       settings.num_images)
  latent_dim = settings.decoder.latent_dim
  if problem.num_fitted is None:
    description = (f'synthetic linear decoder (latent {latent_dim}, '
                   f'784 outputs)')
  else:
    description = (f'linear Gaussian decoder (latent {latent_dim}) '
                   f'fitted to {problem.num_fitted} MNIST training images')
  return problem.decoder, problem.test, problem.noise_scale, description


def _held_weights(model):
  """(kernel, bias) float64 as the (rebuilt) decoder holds them."""
  kernel, bias = model.get_weights()
  return np.asarray(kernel, np.float64), np.asarray(bias, np.float64)


def run_linear(settings):
  """Part (a): AIS curves of the linear decoder against the closed form."""
  decoder, test, noise_scale, description = _linear_problem(settings)
  distortion = (tfrd.SquaredError() if settings.distortion == 'mse'
                else tfrd.GaussianNLL(noise_scale))
  beta_max = settings.beta_max
  num_intermediate = settings.num_intermediate
  schedule = tfrd.build_schedule(
      np.union1d(tfrd.rd_point_betas(10, beta_max), [1.0]),
      tfrd.geometric_betas(num_intermediate, beta_max, 1.0 / 12.0),
      min_before_first=max(num_intermediate // 5, 1), min_between=0)
  kernel, bias = _held_weights(decoder)
  rows = []
  for precision in settings.precisions:
    model, tf32 = _in_precision(decoder, precision)
    start = time.time()
    curve = tfrd.estimate_rd_curve(
        model, test, distortion, schedule,
        latent_dim=settings.decoder.latent_dim,
        chains=tfrd.ChainSettings(
            num_chains=settings.num_chains, seed=settings.seed,
            jit_compile=_jit(settings.jit),
            hmc=tfrd.HMCSettings(
                num_leapfrog_steps=settings.leapfrog_steps)))
    wall_time = time.time() - start
    row = {'precision': precision, 'tf32_execution': tf32,
           'wall_time_s': wall_time,
           'accept_rate_at_beta_max': float(curve.accept_rate[-1]),
           'mean_step_size': float(curve.config['mean_step_size']),
           'beta': curve.betas.tolist(), 'rate': curve.rate.tolist(),
           'distortion': curve.distortion.tolist()}
    own_kernel, own_bias = _held_weights(model)
    exact_rates = []
    for label, (k, b) in (('float32', (kernel, bias)),
                          ('own_weights', (own_kernel, own_bias))):
      exact = tfrd.linear_rate_distortion(k, b, test, curve.betas, distortion)
      exact_rates.append(exact.rate.mean(axis=1))
      comparison = tfrd.compare_with_exact(
          curve, exact,
          tfrd.linear_distortion_variance(k, b, test, curve.betas, distortion))
      relative = (np.abs(comparison.distortion_error) /
                  np.abs(comparison.distortion_exact))
      row[f'vs_{label}'] = {
          'max_abs_rate_error_nats': float(
              np.max(np.abs(comparison.rate_error))),
          'mean_rate_error_nats': float(np.mean(comparison.rate_error)),
          'max_rel_distortion_error': float(np.max(relative)),
          'rate_error_nats': comparison.rate_error.tolist(),
          'rel_distortion_error': relative.tolist(),
          'within_linear_vae_tolerance': comparison.within_tolerance,
      }
    # How far rounding the weights alone moves the exact curve.
    row['exact_rate_shift_from_weights_nats'] = float(
        np.max(np.abs(exact_rates[1] - exact_rates[0])))
    rows.append(row)
    sys.stderr.write(
        f'[linear] {precision}: max |dR| '
        f'{row["vs_float32"]["max_abs_rate_error_nats"]:.3f} nats, max '
        f'|dD|/D {100 * row["vs_float32"]["max_rel_distortion_error"]:.2f}%'
        f', {wall_time:.0f} s\n')
  _tf32_off()
  return {'decoder': description, 'distortion': distortion.get_config(),
          'num_transitions': int(schedule.num_transitions), 'rows': rows}


def run_bdmc(settings):
  """Part (b): BDMC gaps of the pretrained GAN at β = 1000."""
  from adapters import models  # pylint: disable=g-import-not-at-top
  from zoo import pretrained  # pylint: disable=g-import-not-at-top
  path = pretrained.path('mnist_gan_shallow_10')
  decoder = models.load_decoder(path)
  rows = []
  for precision in settings.precisions:
    model, tf32 = _in_precision(decoder, precision)
    start = time.time()
    (result,) = tfrd.bdmc_at_points(
        model, 'mse', rd_betas=[settings.bdmc_beta],
        num_images=settings.bdmc_images, latent_dim=decoder.latent_dim,
        num_intermediate=settings.bdmc_intermediate,
        chains=tfrd.ChainSettings(
            num_chains=settings.bdmc_chains, seed=settings.seed,
            jit_compile=_jit(settings.bdmc_jit),
            hmc=tfrd.HMCSettings(
                num_leapfrog_steps=settings.leapfrog_steps)))
    wall_time = time.time() - start
    rows.append({
        'precision': precision, 'tf32_execution': tf32,
        'gap_nats': result.mean_gap, 'gap_stderr_nats': result.gap_stderr,
        'gap_per_image': result.gap.tolist(),
        'lower_mean': result.mean_lower, 'upper_mean': result.mean_upper,
        'forward_accept_rate': float(result.forward.accept_rates[-1]),
        'reverse_accept_rate': float(result.reverse_accept_rate),
        'num_transitions': int(result.num_transitions),
        'xla_vs_eager_max_abs_output_difference': _xla_discrepancy(
            model, decoder.latent_dim, settings.seed),
        'wall_time_s': wall_time})
    sys.stderr.write(f'[bdmc] {precision}: gap {result.mean_gap:.2f} ± '
                     f'{result.gap_stderr:.2f} nats, {wall_time:.0f} s\n')
  _tf32_off()
  return {'decoder': path, 'distortion': 'mse', 'beta': settings.bdmc_beta,
          'rows': rows}


def format_tables(linear, bdmc):
  """The two result tables as text."""
  lines = []
  if linear:
    lines += [
        f'(a) {linear["decoder"]}; {linear["distortion"]["name"]}, '
        f'{linear["num_transitions"]} transitions; AIS against the exact '
        f'curve of the float32 decoder ("weights": how far rounding the '
        f'weights alone moves the exact rate):',
        f'{"precision":>14} {"max|dR| nats":>12} {"mean dR":>8} '
        f'{"max|dD|/D":>10} {"weights":>8} {"accept":>7} {"time s":>7}']
    for row in linear['rows']:
      ref = row['vs_float32']
      lines.append(
          f'{row["precision"]:>14} {ref["max_abs_rate_error_nats"]:12.3f} '
          f'{ref["mean_rate_error_nats"]:+8.3f} '
          f'{100 * ref["max_rel_distortion_error"]:9.2f}% '
          f'{row["exact_rate_shift_from_weights_nats"]:8.1g} '
          f'{row["accept_rate_at_beta_max"]:7.2f} {row["wall_time_s"]:7.0f}')
  if bdmc:
    lines += [
        '', f'(b) BDMC on {os.path.basename(bdmc["decoder"])} at beta = '
        f'{bdmc["beta"]:g} (squared error), data simulated in each '
        f'precision:',
        f'{"precision":>14} {"gap nats":>9} {"± s.e.":>7} {"lower":>10} '
        f'{"upper":>10} {"fwd acc":>8} {"rev acc":>8} {"XLA diff":>9} '
        f'{"time s":>7}']
    for row in bdmc['rows']:
      lines.append(
          f'{row["precision"]:>14} {row["gap_nats"]:9.2f} '
          f'{row["gap_stderr_nats"]:7.2f} {row["lower_mean"]:10.2f} '
          f'{row["upper_mean"]:10.2f} {row["forward_accept_rate"]:8.2f} '
          f'{row["reverse_accept_rate"]:8.2f} '
          f'{row["xla_vs_eager_max_abs_output_difference"]:9.2g} '
          f'{row["wall_time_s"]:7.0f}')
  return '\n'.join(lines)


def run(settings):
  """Runs the parts of `settings`, prints the tables, writes the JSON."""
  if 'tf32' in settings.precisions:
    sys.stderr.write(f'{_PROGRAM}: note: tf32 acts on NVIDIA Ampere+ GPUs '
                     f'only; elsewhere its row repeats float32.\n')
  start = time.time()
  sizes = settings.sizes()
  sys.stderr.write(f'{_PROGRAM}: {sizes}\n')
  linear = run_linear(settings) if 'linear' in settings.parts else None
  bdmc = run_bdmc(settings) if 'bdmc' in settings.parts else None
  elapsed = time.time() - start
  print(format_tables(linear, bdmc))
  print(f'total wall time {elapsed:.0f} s; seed {settings.seed}')
  os.makedirs(settings.output_dir, exist_ok=True)
  document = {'format': 'tfrd.precision_study/1', 'settings': sizes,
              'quick': settings.quick, 'seed': settings.seed,
              'precisions': list(settings.precisions), 'linear': linear,
              'bdmc': bdmc, 'wall_time_s': elapsed, 'argv': sys.argv}
  path = os.path.join(settings.output_dir, 'precision_study.json')
  with tfrd.files.atomic_write(path) as stream:
    json.dump(document, stream, indent=1)
  print(f'wrote {path}')
  return 0


def main(argv):
  del argv  # jobs.run refused stray arguments and set the log level.
  return run(settings_from_flags())


if __name__ == '__main__':
  jobs.run(main)
