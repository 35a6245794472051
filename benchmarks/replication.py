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

import dataclasses
import functools
import sys
import time

from absl import flags
import numpy as np

from pipelines import jobs
import tfrd
# Its flags (--decoders, --num_chains, --num_images, --leapfrog_steps,
# --num_transitions, --repetitions, --data_dir, --step_size) are this
# benchmark's too.
from benchmarks import throughput

FLAGS = flags.FLAGS

_PROGRAM = 'replication'
# The defaults of benchmarks.throughput's flags here: one small decoder, as
# the cost measured is per chunk (`ReplicationSettings`' defaults too).
_DEFAULTS = {'decoders': ['tiny'], 'num_transitions': 128}


@dataclasses.dataclass(frozen=True)
class ReplicationSettings:
  """What the replication benchmark measures.

  Attributes:
    timing: the `throughput.ThroughputSettings` of its shared flags
      (decoders, chains, images, L, transitions, repetitions, step size,
      data directory).
    cpu_devices: logical CPU devices of the last row (0: no such row).

  Raises:
    throughput.UsageError: for a cpu_devices no run can use.
  """
  timing: throughput.ThroughputSettings = throughput.ThroughputSettings(
      decoders=tuple(_DEFAULTS['decoders']),
      num_transitions=_DEFAULTS['num_transitions'])
  cpu_devices: int = 2

  def __post_init__(self):
    if self.cpu_devices < 0 or self.cpu_devices == 1:
      raise throughput.UsageError('--cpu_devices must be 0 (no such row) or '
                                  'at least 2.')
    if self.cpu_devices > self.timing.num_images:
      raise throughput.UsageError('--cpu_devices needs at least one image '
                                  'per device.')


flags.DEFINE_integer('cpu_devices', ReplicationSettings.cpu_devices,
                     'Logical CPU devices of the last row (0: no such row).')


def settings_from_flags():
  """The `ReplicationSettings` of the flags.

  Raises:
    throughput.UsageError: for bad values, before any work.
  """
  return ReplicationSettings(timing=throughput.settings_from_flags(),
                             cpu_devices=FLAGS.cpu_devices)


def run(settings):
  """Times every decoder of `settings`; prints a table per decoder.

  Args:
    settings: a `ReplicationSettings`.

  Returns:
    {decoder name: [(runner label, seconds per transition, final latents)]}.
  """
  # Importing TensorFlow does not initialize its devices, so the CPU can
  # still be split here.
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfrd import distribute
  # pylint: enable=g-import-not-at-top
  timing = settings.timing
  # Before anything initializes TensorFlow's devices.
  if settings.cpu_devices:
    distribute.configure_cpu_devices(settings.cpu_devices)
  images = throughput.load_mnist_test_images(timing.num_images,
                                             timing.data_dir)
  strategies = [('plain', None),
                ('mirrored x1', tf.distribute.MirroredStrategy(['/cpu:0']))]
  if settings.cpu_devices:
    strategies.append((f'mirrored x{settings.cpu_devices}',
                       tf.distribute.MirroredStrategy(
                           [device.name for device in
                            tf.config.list_logical_devices('CPU')])))
  return {name: _time_decoder(name, images, strategies, timing)
          for name in timing.decoders}


def _time_decoder(name, images, strategies, timing):
  """Times one decoder's chunks through every runner; prints the table.

  Args:
    name: a key of `throughput.DECODERS`.
    images: [B, 784] float32 data.
    strategies: (label, strategy or None for the plain runner) pairs.
    timing: the `throughput.ThroughputSettings` (chains, images, L,
      transitions, repetitions, step size).
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfrd import ais
  from tfrd import distribute
  # pylint: enable=g-import-not-at-top
  num_images, num_chains = timing.num_images, timing.num_chains
  num_transitions, step_size = timing.num_transitions, timing.step_size
  latent_dim = throughput.DECODERS[name][0]
  num_rows = num_images * num_chains
  settings = tfrd.HMCSettings(num_leapfrog_steps=timing.leapfrog_steps,
                              step_size_mode='fixed',
                              initial_step_size=step_size)
  schedule = tfrd.AnnealingSchedule(
      tfrd.geometric_betas(num_transitions, 1000.0, 1.0 / 12.0),
      [num_transitions])
  image_indices = np.arange(num_images, dtype=np.int64)
  latents = tf.constant(np.random.default_rng(0).standard_normal(
      [num_rows, latent_dim]))
  reference_weights = throughput.build_decoder(name).get_weights()

  def runner_for(strategy):
    def make(decoder):
      def make_runner(first, stop):
        target = tfrd.AnnealedTarget(
            decoder, tfrd.standard_normal_prior(latent_dim),
            tfrd.SquaredError(), images[first:stop], num_chains)
        return ais.TransitionRunner(target, settings)
      return make_runner
    if strategy is None:
      return make(throughput.build_decoder(name))(0, num_images)
    with strategy.scope():
      decoder = throughput.build_decoder(name)
    decoder.set_weights(reference_weights)
    return distribute.ReplicatedRunner(
        strategy, distribute.plan_shards(strategy, num_images),
        make(decoder))

  runs = {}
  for label, strategy in strategies:
    runner = runner_for(strategy)
    start_chain = ais.ChainState(
        latents, runner.evaluate(latents), tf.zeros([num_rows], tf.float64),
        tf.fill([num_rows], tf.constant(step_size, tf.float64)),
        tf.constant(0.0, tf.float64))
    runs[label] = functools.partial(
        throughput._run_chunks, runner, start_chain, schedule, 7,  # pylint: disable=protected-access
        image_indices, np.full([num_rows], step_size))
    runs[label]()  # compiles
  # Round robin, so that a burst of load from other processes slows every
  # runner's repetition alike; the best of each counts.
  times = {label: [] for label in runs}
  final = {}
  for _ in range(timing.repetitions):
    for label, run in runs.items():
      start = time.perf_counter()
      chain, _ = run()
      times[label].append(time.perf_counter() - start)
      final[label] = chain.latents.numpy()
  results = [(label, min(times[label]) / num_transitions, final[label])
             for label in runs]
  for label, seconds, _ in results:
    sys.stderr.write(f'{_PROGRAM}: {label}: {seconds:.4g} s per '
                     f'transition\n')

  plain_s, plain_latents = results[0][1], results[0][2]
  print(f'{name} decoder, {num_chains} chains x '
        f'{num_images} images, L = {timing.leapfrog_steps}, '
        f'{num_transitions} transitions in chunks of 32; best of '
        f'{timing.repetitions}.')
  print(f'{"runner":<14} {"s/transition":>12} {"vs plain":>9} '
        f'{"same chains":>11}')
  for label, seconds, final_latents in results:
    same = np.allclose(final_latents, plain_latents, rtol=1e-5, atol=1e-8)
    print(f'{label:<14} {seconds:12.4g} {seconds / plain_s:9.3f} '
          f'{"yes" if same else "NO":>11}')
  return results


def main(argv):
  del argv  # jobs.run refused stray arguments.
  return jobs.run_job(_PROGRAM, lambda: run(settings_from_flags()),
                      (throughput.UsageError,))


if __name__ == '__main__':
  for _name, _value in _DEFAULTS.items():
    FLAGS.set_default(_name, _value)
  jobs.run(main)
