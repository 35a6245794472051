r"""Is XLA or graph mode faster for the deep-feature distortion here?

    TFRD_DATA_DIR=../shared/data python -m benchmarks.feature_distortion

Why it exists: a curve under `tfrd.DeepFeatureDistortion` differentiates a
CNN (`zoo.classifier`, appendix D's Fig. 6) at every leapfrog step, on top
of the decoder. XLA fuses the dense decoders well, but its CPU convolutions
are not TensorFlow's own kernels, and on a CPU the feature curves of
`apps.reproduce --figure=fig6` ran several times slower than the squared-
error curves of the same decoder, far beyond the CNN's share of the FLOPs
(0.36 M multiply-adds per image against the decoder's 0.81 M). This
benchmark measures the choice `pipelines.reproduce._jit_compile` makes (feature
curves in graph mode on a machine without a GPU) instead of assuming it.

What it measures, in one process and side by side: the steady-state seconds
per AIS transition of the shallow MLP decoder (appendix D.1; code size 10,
fixed untrained weights) on the production path (`benchmarks.throughput.
time_decoder`: `tfrd.ais.TransitionRunner`, frozen step sizes, host round
trip after every chunk), under squared error and under the deep-feature
distortion of an untrained `zoo.classifier` network (the cost does not
depend on its weights), each XLA-compiled and in graph mode. The defaults
are fig6's `cpu` budget: 20 images x 16 chains, L = 2.

How to read it: `s/transition` is the best of --repetitions; `of XLA` is the
graph-mode time over the XLA time of the same distortion (below 1: graph
mode is faster); `of squared error` is the row's time over the squared-error
row in the same mode, what the feature network adds. Both are ratios of
figures measured minutes apart in one process, so load from other processes
shifts them less than the absolute times. --json keeps everything.

Its flags are `benchmarks.throughput`'s (`throughput.settings_from_flags`
turns them into a `throughput.ThroughputSettings`; this benchmark uses the
images, chains, L, transitions, repetitions, step size, seed, data and JSON
path of it), with fig6's budget as their defaults.
"""

import datetime
import json
import os

from absl import flags

from pipelines import jobs
from benchmarks import throughput
import tfrd

FLAGS = flags.FLAGS

_PROGRAM = 'feature_distortion'
# The decoder of fig6's code-size-10 curves (and fig4's), appendix D.1.
_DECODER = 'shallow'
# fig6's cpu budget (pipelines.reproduce.BUDGETS['cpu']), set as the defaults of
# benchmarks.throughput's flags, which this benchmark shares.
_DEFAULTS = {'num_images': 20, 'num_chains': 16, 'leapfrog_steps': 2,
             'num_transitions': 128}
_MODES = (('XLA', True), ('graph', False))


def measure(images, num_chains, num_leapfrog_steps, num_transitions,
            repetitions, step_size=0.05, seed=0):
  """Seconds per transition of every (distortion, mode) pair.

  Args:
    images: [B, 784] float32 data.
    num_chains: chains per image K.
    num_leapfrog_steps: L.
    num_transitions: transitions per timed repetition.
    repetitions: timed repetitions; the best counts.
    step_size: the frozen step size of every chain.
    seed: seed of the weights and the chains.

  Returns:
    A list of dicts, one per row, with `distortion`, `mode`,
    `seconds_per_transition`, `jit_compiled`, `of_xla` and
    `of_squared_error`.
  """
  from zoo import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
  features = classifier_lib.feature_extractor(
      classifier_lib.build_classifier(seed=seed))
  distortions = (
      ('squared error', tfrd.SquaredError),
      ('deep features', lambda: tfrd.DeepFeatureDistortion(features,
                                                           (28, 28, 1))))
  rows = []
  for distortion_name, make in distortions:
    for mode, jit_compile in _MODES:
      throughput._progress(f'{distortion_name}, {mode}')  # pylint: disable=protected-access
      row = throughput.time_decoder(
          _DECODER, images, num_chains, num_leapfrog_steps,
          throughput.TimingPlan(num_transitions, repetitions,
                                bare_gradient=False),
          step_size, seed, distortion=make(), jit_compile=jit_compile)
      rows.append({'distortion': distortion_name, 'mode': mode,
                   'seconds_per_transition': row['seconds_per_transition'],
                   'repetition_seconds': row['repetition_seconds'],
                   'compile_s': row['compile_s'],
                   'jit_compiled': row['jit_compiled'],
                   'batch_rows': row['batch_rows']})
  time_of = {(r['distortion'], r['mode']): r['seconds_per_transition']
             for r in rows}
  for row in rows:
    row['of_xla'] = (row['seconds_per_transition'] /
                     time_of[(row['distortion'], 'XLA')])
    row['of_squared_error'] = (row['seconds_per_transition'] /
                               time_of[('squared error', row['mode'])])
  return rows


def format_table(rows):
  lines = [f'{"distortion":<14} {"mode":<6} {"s/transition":>12} '
           f'{"of XLA":>7} {"of squared error":>16}']
  lines.append('-' * len(lines[0]))
  for row in rows:
    lines.append(f'{row["distortion"]:<14} {row["mode"]:<6} '
                 f'{row["seconds_per_transition"]:>12.4g} '
                 f'{row["of_xla"]:>7.2f} {row["of_squared_error"]:>16.2f}')
  return '\n'.join(lines)


def run(settings):
  """Measures every row, prints the table, writes the JSON.

  Args:
    settings: a `throughput.ThroughputSettings`.

  Returns:
    The rows (`measure`).

  Raises:
    throughput.UsageError: if settings.json exists already (nothing is
      replaced) or the MNIST file is missing, before any work.
  """
  if settings.json and os.path.lexists(settings.json):
    raise throughput.UsageError(f'--json={settings.json} already exists; '
                                f'give a new path (nothing is replaced).')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images = throughput.load_mnist_test_images(settings.num_images,
                                             settings.data_dir)
  rows = measure(images, settings.num_chains, settings.leapfrog_steps,
                 settings.num_transitions, settings.repetitions,
                 settings.step_size, settings.seed)
  print(f'{_DECODER} MLP decoder, {settings.num_images} images x '
        f'{settings.num_chains} chains, L = {settings.leapfrog_steps}, best '
        f'of {settings.repetitions} x {settings.num_transitions} '
        f'transitions; TensorFlow {tf.__version__}')
  print(format_table(rows))
  if settings.json:
    document = {
        'benchmark': _PROGRAM, 'tensorflow': tf.__version__,
        'timestamp': datetime.datetime.now(datetime.timezone.utc).isoformat(),
        'machine': throughput._machine(),  # pylint: disable=protected-access
        'settings': settings.values((
            'num_images', 'num_chains', 'leapfrog_steps', 'num_transitions',
            'repetitions', 'step_size', 'seed')),
        'decoder': _DECODER, 'results': rows}
    os.makedirs(os.path.dirname(os.path.abspath(settings.json)),
                exist_ok=True)
    with tfrd.files.atomic_write(settings.json) as stream:
      json.dump(document, stream, indent=1)
  return rows


def main(argv):
  del argv  # jobs.run refused stray arguments.
  return jobs.run_job(
      _PROGRAM, lambda: run(throughput.settings_from_flags()),
      (throughput.UsageError,))


if __name__ == '__main__':
  for _name, _value in _DEFAULTS.items():
    FLAGS.set_default(_name, _value)
  jobs.run(main)
