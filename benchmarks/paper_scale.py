r"""The paper's largest run, started and stopped at its first checkpoint.

    TFRD_DATA_DIR=../shared/data python -m benchmarks.paper_scale \
        --checkpoint_dir=runs/paper_scale_checkpoint

Appendix D.2's 100-dimensional setting: the deep MLP decoder with a code of
size 100 (`benchmarks.throughput` 'deep100', fixed untrained weights: the
cost does not depend on the weights), the first 50 MNIST test images,
40 chains each (2000 chains), L = 20, two passes, 1999 RD points linear on
each side of β = 1 up to 1/0.0003, a sigmoid base of 1,600,000 with the
≥ 800 / ≥ 10 fills (1,609,539 distributions in tfrd's construction). It runs
`tfrd.estimate_rd_curve` exactly as `apps.rd_curve` does, asks it to stop
after the first chunk (the stop request SIGTERM makes), and reports what
matters for a run of days: the size of the checkpoint written at that
moment, the process's peak memory, and the time per transition. The issue
asks for a checkpoint of at most 100 MB and at most 3 GB of memory; the
checkpoint directory must be new or empty, and its tfrd files are removed
afterwards unless --keep_checkpoint.
"""

import dataclasses
import json
import os
import resource
import sys
import threading
import time

from absl import flags

from pipelines import jobs
from benchmarks import throughput
import tfrd

FLAGS = flags.FLAGS

# Appendix D.2 for the 100-dimensional models.
_BETA_MAX = 1.0 / 0.0003
_NUM_RD_POINTS = 1999
_LEAPFROG_STEPS = 20


def _directory_bytes(directory):
  return sum(os.path.getsize(os.path.join(directory, name))
             for name in os.listdir(directory))


@dataclasses.dataclass(frozen=True)
class PaperScaleSettings:
  """The run of appendix D.2's 100-dimensional setting this measures.

  Attributes:
    checkpoint_dir: a new or empty directory for the checkpoint.
    keep_checkpoint: leave the checkpoint in place (removed otherwise).
    num_images: the first MNIST test images (the paper: 50).
    num_chains: chains per image (the paper: 40).
    num_intermediate: the sigmoid base N (the paper: 1,600,000).
    data_dir: the directory holding mnist/t10k-images-idx3-ubyte.gz (None:
      $TFRD_DATA_DIR).
    json: also write the figures to this file (None: no file).
  """
  checkpoint_dir: str = 'paper_scale_checkpoint'
  keep_checkpoint: bool = False
  num_images: int = 50
  num_chains: int = 40
  num_intermediate: int = 1_600_000
  data_dir: str = None
  json: str = None


_DEFAULTS = PaperScaleSettings()

flags.DEFINE_string('checkpoint_dir', _DEFAULTS.checkpoint_dir,
                    'A new or empty directory for the checkpoint.')
flags.DEFINE_bool('keep_checkpoint', _DEFAULTS.keep_checkpoint,
                  'Leave the checkpoint in place (it is removed otherwise).')
# --data_dir and --json are benchmarks.throughput's flags.
flags.DEFINE_integer('paper_num_images', _DEFAULTS.num_images,
                     'Images (the paper: 50).')
flags.DEFINE_integer('paper_num_chains', _DEFAULTS.num_chains,
                     'Chains per image (the paper: 40).')
flags.DEFINE_integer('num_intermediate', _DEFAULTS.num_intermediate,
                     'Sigmoid base N (the paper: 1,600,000).')


def settings_from_flags():
  """The `PaperScaleSettings` of the flags."""
  return PaperScaleSettings(
      checkpoint_dir=FLAGS.checkpoint_dir,
      keep_checkpoint=FLAGS.keep_checkpoint,
      num_images=FLAGS.paper_num_images, num_chains=FLAGS.paper_num_chains,
      num_intermediate=FLAGS.num_intermediate, data_dir=FLAGS.data_dir,
      json=FLAGS.json)


def _measure(settings):
  """Builds the setting, runs to the first checkpoint, returns the figures."""
  images = throughput.load_mnist_test_images(settings.num_images,
                                             settings.data_dir)
  decoder = throughput.build_decoder('deep100')
  schedule = tfrd.build_schedule(
      tfrd.rd_point_betas(_NUM_RD_POINTS, _BETA_MAX, spacing='paper'),
      tfrd.sigmoid_betas(settings.num_intermediate, _BETA_MAX), 800, 10)
  sys.stderr.write(
      f'paper_scale: {schedule.num_transitions} transitions, '
      f'{schedule.rd_indices.size} RD points, {settings.num_images} '
      f'images x {settings.num_chains} chains, L={_LEAPFROG_STEPS}; '
      f'running to the first checkpoint\n')
  stop = threading.Event()
  chunks = []

  def progress(update):
    chunks.append((time.time(), update.transitions_done))
    stop.set()  # checkpoint and stop at the end of this first chunk

  start = time.time()
  try:
    tfrd.estimate_rd_curve(
        decoder, images, 'mse', schedule, latent_dim=100,
        chains=tfrd.ChainSettings(
            num_chains=settings.num_chains,
            hmc=tfrd.HMCSettings(num_leapfrog_steps=_LEAPFROG_STEPS)),
        control=tfrd.RunControl(
            progress=progress, checkpoint_dir=settings.checkpoint_dir,
            resume=False, checkpoint_interval_s=3600.0, stop=stop))
    raise RuntimeError('the run finished instead of stopping')
  except tfrd.RunInterrupted as interruption:
    checkpoint_path = interruption.checkpoint_path
  elapsed = time.time() - start
  figures = {
      'num_transitions': int(schedule.num_transitions),
      'num_rd_points': int(schedule.rd_indices.size),
      'num_chains_total': settings.num_images * settings.num_chains,
      'latent_dim': 100,
      'checkpoint': checkpoint_path,
      'checkpoint_mb': _directory_bytes(settings.checkpoint_dir) / 1e6,
      'peak_memory_mb': resource.getrusage(
          resource.RUSAGE_SELF).ru_maxrss / 1024.0,
      'transitions_run': chunks[0][1] if chunks else 0,
      'wall_time_s': elapsed,
  }
  if not settings.keep_checkpoint:
    tfrd.checkpointing.remove_checkpoint(settings.checkpoint_dir)
  return figures


def run(settings):
  """Refuses a used checkpoint directory, measures, prints, writes the JSON.

  Args:
    settings: a `PaperScaleSettings`.

  Returns:
    The figures (a dict).
  """
  tfrd.checkpointing.check_directory(settings.checkpoint_dir)
  if tfrd.checkpointing.has_checkpoint(settings.checkpoint_dir):
    raise ValueError(f'{settings.checkpoint_dir} already holds a checkpoint; '
                     f'give a new or empty --checkpoint_dir.')
  figures = _measure(settings)
  print(f'checkpoint {figures["checkpoint_mb"]:.1f} MB (bound 100 MB); peak '
        f'memory {figures["peak_memory_mb"]:.0f} MB (bound 3000 MB); '
        f'{figures["transitions_run"]} transitions of '
        f'{figures["num_transitions"]} with '
        f'{figures["num_chains_total"]} chains in '
        f'{figures["wall_time_s"]:.0f} s (compile included)')
  if settings.json:
    with tfrd.files.atomic_write(settings.json) as stream:
      json.dump(figures, stream, indent=1)
  return figures


def main(argv):
  del argv  # jobs.run refused stray arguments.
  return jobs.run_job('paper_scale', lambda: run(settings_from_flags()),
                      (ValueError, OSError, throughput.UsageError))


if __name__ == '__main__':
  jobs.run(main)
