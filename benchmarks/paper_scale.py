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

flags.DEFINE_string('checkpoint_dir', 'paper_scale_checkpoint',
                    'A new or empty directory for the checkpoint.')
flags.DEFINE_bool('keep_checkpoint', False,
                  'Leave the checkpoint in place (it is removed otherwise).')
# --data_dir and --json are benchmarks.throughput's flags.
flags.DEFINE_integer('paper_num_images', 50, 'Images (the paper: 50).')
flags.DEFINE_integer('paper_num_chains', 40,
                     'Chains per image (the paper: 40).')
flags.DEFINE_integer('num_intermediate', 1_600_000,
                     'Sigmoid base N (the paper: 1,600,000).')

# Appendix D.2 for the 100-dimensional models.
_BETA_MAX = 1.0 / 0.0003
_NUM_RD_POINTS = 1999
_LEAPFROG_STEPS = 20


def _directory_bytes(directory):
  return sum(os.path.getsize(os.path.join(directory, name))
             for name in os.listdir(directory))


def _measure():
  """Builds the setting, runs to the first checkpoint, returns the figures."""
  images = throughput.load_mnist_test_images(FLAGS.paper_num_images,
                                             FLAGS.data_dir)
  decoder = throughput.build_decoder('deep100')
  schedule = tfrd.build_schedule(
      tfrd.rd_point_betas(_NUM_RD_POINTS, _BETA_MAX, spacing='paper'),
      tfrd.sigmoid_betas(FLAGS.num_intermediate, _BETA_MAX), 800, 10)
  sys.stderr.write(
      f'paper_scale: {schedule.num_transitions} transitions, '
      f'{schedule.rd_indices.size} RD points, {FLAGS.paper_num_images} '
      f'images x {FLAGS.paper_num_chains} chains, L={_LEAPFROG_STEPS}; '
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
            num_chains=FLAGS.paper_num_chains,
            hmc=tfrd.HMCSettings(num_leapfrog_steps=_LEAPFROG_STEPS)),
        control=tfrd.RunControl(
            progress=progress, checkpoint_dir=FLAGS.checkpoint_dir,
            resume=False, checkpoint_interval_s=3600.0, stop=stop))
    raise RuntimeError('the run finished instead of stopping')
  except tfrd.RunInterrupted as interruption:
    checkpoint_path = interruption.checkpoint_path
  elapsed = time.time() - start
  figures = {
      'num_transitions': int(schedule.num_transitions),
      'num_rd_points': int(schedule.rd_indices.size),
      'num_chains_total': FLAGS.paper_num_images * FLAGS.paper_num_chains,
      'latent_dim': 100,
      'checkpoint': checkpoint_path,
      'checkpoint_mb': _directory_bytes(FLAGS.checkpoint_dir) / 1e6,
      'peak_memory_mb': resource.getrusage(
          resource.RUSAGE_SELF).ru_maxrss / 1024.0,
      'transitions_run': chunks[0][1] if chunks else 0,
      'wall_time_s': elapsed,
  }
  if not FLAGS.keep_checkpoint:
    tfrd.checkpointing.remove_checkpoint(FLAGS.checkpoint_dir)
  return figures


def _report():
  tfrd.checkpointing.check_directory(FLAGS.checkpoint_dir)
  if tfrd.checkpointing.has_checkpoint(FLAGS.checkpoint_dir):
    raise ValueError(f'{FLAGS.checkpoint_dir} already holds a checkpoint; '
                     f'give a new or empty --checkpoint_dir.')
  figures = _measure()
  print(f'checkpoint {figures["checkpoint_mb"]:.1f} MB (bound 100 MB); peak '
        f'memory {figures["peak_memory_mb"]:.0f} MB (bound 3000 MB); '
        f'{figures["transitions_run"]} transitions of '
        f'{figures["num_transitions"]} with '
        f'{figures["num_chains_total"]} chains in '
        f'{figures["wall_time_s"]:.0f} s (compile included)')
  if FLAGS.json:
    with tfrd.files.atomic_write(FLAGS.json) as stream:
      json.dump(figures, stream, indent=1)
  return figures


def main(argv):
  return jobs.run_job('paper_scale', _report, (ValueError, OSError,
                                              throughput.UsageError))


if __name__ == '__main__':
  jobs.run(main)
