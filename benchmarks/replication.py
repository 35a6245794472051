r"""What the tf.distribute path costs: the same chunks with and without it.

    TFRD_DATA_DIR=../shared/data python -m benchmarks.replication \
        --decoders=tiny --cpu_devices=2

Why it exists: `--strategy` (`tfrd.distribute.ReplicatedRunner`) runs every
chunk of at most 32 transitions through `strategy.run`: one replica thread
per device, the chain state split before the chunk and concatenated after
it for the host's bookkeeping. That is paid once per chunk, whatever the
decoder. This benchmark measures it in one process, side by side, on the
same decoder, images, chains, schedule and seed:

- `plain`: `tfrd.ais.TransitionRunner`, as a run without --strategy;
- `mirrored x1`: `ReplicatedRunner` over `MirroredStrategy` with one replica
  on the host CPU: the same work plus the replication machinery;
- `mirrored xN` (with --cpu_devices=N): N logical CPU devices, each replica
  running its share of the images. They share the same cores, so this
  shows that the split works and what it costs, not a speed-up; on N GPUs
  each replica has a device of its own.

It prints seconds per transition (best of --repetitions passes over the
same chunks, the runners taking turns) and each row's ratio to `plain`, and
checks that every row's chains end where `plain`'s do.
"""

import functools
import sys
import time

from absl import flags
import numpy as np

import tensorflow as tf

from pipelines import jobs
import tfrd
from tfrd import ais
from tfrd import distribute
# Its flags (--decoders, --num_chains, --num_images, --leapfrog_steps,
# --num_transitions, --repetitions, --data_dir, --step_size) are this
# benchmark's too. Importing TensorFlow does not initialize its devices, so
# --cpu_devices can still split the CPU in `_benchmark`.
from benchmarks import throughput

FLAGS = flags.FLAGS

flags.DEFINE_integer('cpu_devices', 2,
                     'Logical CPU devices of the last row (0: no such row).')
# One small decoder by default: the cost measured here is per chunk.
FLAGS.set_default('decoders', ['tiny'])
FLAGS.set_default('num_transitions', 128)

_PROGRAM = 'replication'


def _check_flags():
  """Refuses bad input before any work (`throughput.UsageError`)."""
  throughput._check_flags()  # pylint: disable=protected-access
  if FLAGS.cpu_devices < 0 or FLAGS.cpu_devices == 1:
    raise throughput.UsageError('--cpu_devices must be 0 (no such row) or '
                                'at least 2.')
  if FLAGS.cpu_devices > FLAGS.num_images:
    raise throughput.UsageError('--cpu_devices needs at least one image per '
                                'device.')


def _benchmark():
  _check_flags()
  # Before anything initializes TensorFlow's devices.
  if FLAGS.cpu_devices:
    distribute.configure_cpu_devices(FLAGS.cpu_devices)
  images = throughput.load_mnist_test_images(FLAGS.num_images, FLAGS.data_dir)
  strategies = [('plain', None),
                ('mirrored x1', tf.distribute.MirroredStrategy(['/cpu:0']))]
  if FLAGS.cpu_devices:
    strategies.append((f'mirrored x{FLAGS.cpu_devices}',
                       tf.distribute.MirroredStrategy(
                           [device.name for device in
                            tf.config.list_logical_devices('CPU')])))
  return {name: _time_decoder(name, images, strategies)
          for name in FLAGS.decoders}


def _time_decoder(name, images, strategies):
  """Times one decoder's chunks through every runner; prints the table."""
  latent_dim = throughput.DECODERS[name][0]
  num_rows = FLAGS.num_images * FLAGS.num_chains
  settings = tfrd.HMCSettings(num_leapfrog_steps=FLAGS.leapfrog_steps,
                              step_size_mode='fixed',
                              initial_step_size=FLAGS.step_size)
  schedule = tfrd.AnnealingSchedule(
      tfrd.geometric_betas(FLAGS.num_transitions, 1000.0, 1.0 / 12.0),
      [FLAGS.num_transitions])
  image_indices = np.arange(FLAGS.num_images, dtype=np.int64)
  latents = tf.constant(np.random.default_rng(0).standard_normal(
      [num_rows, latent_dim]))
  reference_weights = throughput.build_decoder(name).get_weights()

  def runner_for(strategy):
    def make(decoder):
      def make_runner(first, stop):
        target = tfrd.AnnealedTarget(
            decoder, tfrd.standard_normal_prior(latent_dim),
            tfrd.SquaredError(), images[first:stop], FLAGS.num_chains)
        return ais.TransitionRunner(target, settings)
      return make_runner
    if strategy is None:
      return make(throughput.build_decoder(name))(0, FLAGS.num_images)
    with strategy.scope():
      decoder = throughput.build_decoder(name)
    decoder.set_weights(reference_weights)
    return distribute.ReplicatedRunner(
        strategy, distribute.plan_shards(strategy, FLAGS.num_images),
        make(decoder))

  runs = {}
  for label, strategy in strategies:
    runner = runner_for(strategy)
    start_chain = ais.ChainState(
        latents, runner.evaluate(latents), tf.zeros([num_rows], tf.float64),
        tf.fill([num_rows], tf.constant(FLAGS.step_size, tf.float64)),
        tf.constant(0.0, tf.float64))
    runs[label] = functools.partial(
        throughput._run_chunks, runner, start_chain, schedule, 7,  # pylint: disable=protected-access
        image_indices, np.full([num_rows], FLAGS.step_size))
    runs[label]()  # compiles
  # Round robin, so that a burst of load from other processes slows every
  # runner's repetition alike; the best of each counts.
  times = {label: [] for label in runs}
  final = {}
  for _ in range(FLAGS.repetitions):
    for label, run in runs.items():
      start = time.perf_counter()
      chain, _ = run()
      times[label].append(time.perf_counter() - start)
      final[label] = chain.latents.numpy()
  results = [(label, min(times[label]) / FLAGS.num_transitions, final[label])
             for label in runs]
  for label, seconds, _ in results:
    sys.stderr.write(f'{_PROGRAM}: {label}: {seconds:.4g} s per '
                     f'transition\n')

  plain_s, plain_latents = results[0][1], results[0][2]
  print(f'{name} decoder, {FLAGS.num_chains} chains x '
        f'{FLAGS.num_images} images, L = {FLAGS.leapfrog_steps}, '
        f'{FLAGS.num_transitions} transitions in chunks of 32; best of '
        f'{FLAGS.repetitions}.')
  print(f'{"runner":<14} {"s/transition":>12} {"vs plain":>9} '
        f'{"same chains":>11}')
  for label, seconds, final_latents in results:
    same = np.allclose(final_latents, plain_latents, rtol=1e-5, atol=1e-8)
    print(f'{label:<14} {seconds:12.4g} {seconds / plain_s:9.3f} '
          f'{"yes" if same else "NO":>11}')
  return results


def main(argv):
  return jobs.run_job(_PROGRAM, _benchmark, (throughput.UsageError,))


if __name__ == '__main__':
  jobs.run(main)
