"""benchmarks.paper_scale: the paper's largest setting run to its first
checkpoint, at a size a test affords (the same code path and schedule
construction, fewer images, chains and base distributions)."""

import gzip
import json
import os
import struct

import numpy as np
import pytest

import app_runner


def _fake_mnist(directory, num_images=4):
  os.makedirs(os.path.join(directory, 'mnist'))
  pixels = np.random.default_rng(0).integers(0, 256, (num_images, 784),
                                             dtype=np.uint8)
  with gzip.open(os.path.join(directory, 'mnist',
                              't10k-images-idx3-ubyte.gz'), 'wb') as stream:
    stream.write(struct.pack('>IIII', 2051, num_images, 28, 28))
    stream.write(pixels.tobytes())


@pytest.mark.slow
def test_runs_to_the_first_checkpoint_and_reports_its_size(tmp_path):
  _fake_mnist(str(tmp_path / 'data'))
  checkpoint_dir = tmp_path / 'checkpoint'
  result = app_runner.run_app(
      'benchmarks.paper_scale', f'--checkpoint_dir={checkpoint_dir}',
      f'--data_dir={tmp_path / "data"}', f'--json={tmp_path / "out.json"}',
      '--paper_num_images=2', '--paper_num_chains=2',
      '--num_intermediate=3000')
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'out.json') as stream:
    figures = json.load(stream)
  assert figures['num_rd_points'] == 1999
  assert figures['num_chains_total'] == 4 and figures['latent_dim'] == 100
  assert 0 < figures['transitions_run'] <= 32
  assert 0 < figures['checkpoint_mb'] < 100
  assert 'checkpoint' in result.stdout and 'peak memory' in result.stdout
  # Its own checkpoint is removed; the directory was created by tfrd.
  assert not os.path.exists(checkpoint_dir)
