"""The apps end to end, as a user runs them: exit codes, files, messages."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import app_runner  # pylint: disable=g-bad-import-order

REPO = app_runner.REPO
TINY_AIS_FLAGS = list(app_runner.TINY_AIS_FLAGS)
TINY_CURVE_FLAGS = list(app_runner.TINY_CURVE_FLAGS)


_run = app_runner.run_app


@pytest.fixture(scope='module')
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp('apps')
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(3, 24)) * 0.3
  bias = np.full(24, 0.4)
  images = (rng.normal(size=(3, 3)) @ kernel + bias).reshape(3, 4, 6)
  paths = {
      'model': app_runner.save_linear_decoder(str(root / 'linear.keras'),
                                              kernel, bias),
      'nan_model': app_runner.save_linear_decoder(
          str(root / 'nan.keras'), np.full((3, 24), np.nan), bias),
      'data': str(root / 'images.npz'),
      'wrong_data': str(root / 'wrong.npz'),
      'not_a_zip': str(root / 'truncated.keras'),
      'root': root,
  }
  np.savez(paths['data'], x=images.astype(np.float32))
  np.savez(paths['wrong_data'], x=np.zeros((3, 25), np.float32))
  with open(paths['not_a_zip'], 'w') as stream:
    stream.write('not a zip archive')
  return paths


@pytest.mark.slow
def test_rd_curve_end_to_end(files, tmp_path):
  output_dir = tmp_path / 'out'
  result = _run('apps.rd_curve', f'--model={files["model"]}',
                f'--dataset=npz:{files["data"]}', '--num_images=3',
                '--distortion=gaussian_nll', '--gaussian_scale=0.5',
                f'--output_dir={output_dir}', '--seed=1', *TINY_CURVE_FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(output_dir)) == ['curve.csv', 'curve.json',
                                            'curve.npz', 'curve.png',
                                            'step_sizes.npz']
  with open(output_dir / 'curve.json') as stream:
    document = json.load(stream)
  assert document['format'] == 'tfrd.rd_curve/1'
  betas = [point['beta'] for point in document['points']]
  assert 1.0 in betas and betas == sorted(betas) and betas[-1] == 10.0
  assert all(point['rate'] >= -1e-6 for point in document['points'])
  assert document['config']['data_reshaped_to_decoder_output'] is False or (
      document['config']['data_shape'] == [4, 6])
  assert document['config']['latent_dim'] == 3
  assert document['timing']['wall_time_s'] > 0
  assert 'log_likelihood' in document
  assert 'log-likelihood at beta = 1' in result.stdout
  assert 'points 4/4' in result.stderr  # progress reached the end


@pytest.mark.slow  # each case starts apps.rd_curve, which loads TensorFlow
@pytest.mark.parametrize('case, message', [
    ('mismatch', 'does not match the decoder output shape (24,)'),
    ('nan', 'NaN'),
    ('missing', 'Model file not found'),
    ('schedule', 'strictly increasing'),
    ('prior', 'mixture'),
    ('kind', '--gaussian_scale=decoder'),
    ('step_size', '--initial_step_size must be positive'),
    ('accept', '--target_accept is an acceptance probability'),
    ('reconstruction_betas', '--reconstruction_betas must be numbers'),
    ('not_a_zip', 'is not a Keras .keras archive'),
])
def test_rd_curve_bad_input_fails_cleanly(files, tmp_path, case, message):
  args = {
      'mismatch': [f'--model={files["model"]}',
                   f'--dataset=npz:{files["wrong_data"]}'],
      'nan': [f'--model={files["nan_model"]}',
              f'--dataset=npz:{files["data"]}'],
      'missing': [f'--model={tmp_path / "nope.keras"}',
                  f'--dataset=npz:{files["data"]}'],
      'schedule': [f'--model={files["model"]}',
                   f'--dataset=npz:{files["data"]}', '--rd_betas=1,0.5'],
      'prior': [f'--model={files["model"]}', f'--dataset=npz:{files["data"]}',
                '--prior=mixture:1.5'],
      'kind': [f'--model={files["model"]}', f'--dataset=npz:{files["data"]}',
               '--output_kind=mean_logvar'],
      'step_size': [f'--model={files["model"]}',
                    f'--dataset=npz:{files["data"]}', '--initial_step_size=0'],
      'accept': [f'--model={files["model"]}',
                 f'--dataset=npz:{files["data"]}', '--target_accept=1.5'],
      'reconstruction_betas': [
          f'--model={files["model"]}', f'--dataset=npz:{files["data"]}',
          '--save_reconstructions', '--reconstruction_betas=one'],
      'not_a_zip': [f'--model={files["not_a_zip"]}',
                    f'--dataset=npz:{files["data"]}'],
  }[case]
  output_dir = tmp_path / 'out'
  result = _run('apps.rd_curve', *args, '--num_images=3',
                f'--output_dir={output_dir}', *TINY_CURVE_FLAGS)
  assert result.returncode != 0
  assert 'rd_curve: error:' in result.stderr
  assert message in result.stderr
  assert 'Traceback' not in result.stderr
  assert not os.path.exists(output_dir / 'curve.json')


def test_rd_curve_help_lists_flags():
  result = _run('apps.rd_curve', '--help')
  for flag in ('--model', '--dataset', '--num_chains', '--num_intermediate',
               '--num_rd_points', '--beta_max', '--leapfrog_steps',
               '--distortion', '--seed', '--output_dir'):
    assert flag in result.stdout


@pytest.mark.slow
def test_rd_curve_with_damaged_prior_and_blur(files, tmp_path):
  output_dir = tmp_path / 'out'
  result = _run('apps.rd_curve', f'--model={files["model"]}',
                f'--dataset=npz:{files["data"]}', '--num_images=3',
                '--prior=mixture:0.3', '--blur_sigma=0.5',
                f'--output_dir={output_dir}', *TINY_CURVE_FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(output_dir / 'curve.json') as stream:
    config = json.load(stream)['config']
  assert config['prior']['alpha'] == 0.3
  assert config['blur_sigma'] == 0.5
  assert [t['transform'] for t in config['decoder']['transforms']][-1] == (
      'gaussian_blur')


@pytest.mark.slow
def test_linear_vae_reports_deviations_and_fails_outside_tolerance(tmp_path):
  if not os.environ.get('TFRD_DATA_DIR'):
    pytest.skip('TFRD_DATA_DIR is unset: no MNIST files to fit the decoder.')
  common = ['--num_train=500', '--num_images=2', '--distortions=mse',
            *TINY_AIS_FLAGS]
  result = _run('apps.linear_vae', f'--output_dir={tmp_path}', *common,
                '--distortion_tolerance_relative=0',
                '--distortion_tolerance_stderrs=0')
  # A zero tolerance cannot be met by a Monte Carlo estimate: exit status 1.
  assert result.returncode == 1, result.stderr[-3000:]
  assert 'largest rate error' in result.stdout
  assert 'OUTSIDE TOLERANCE' in result.stdout
  with open(tmp_path / 'linear_vae.json') as stream:
    summary = json.load(stream)
  assert summary['within_tolerance'] is False
  assert os.path.exists(tmp_path / 'mse' / 'comparison.png')
  assert os.path.exists(tmp_path / 'linear_decoder.keras')
  with np.load(tmp_path / 'test_images.npz') as arrays:
    assert arrays['x'].shape == (2, 784)


@pytest.mark.slow
def test_rd_curve_killed_and_resumed_gives_the_uninterrupted_curve(files,
                                                                    tmp_path):
  import signal  # pylint: disable=g-import-not-at-top
  # About 20 chunks a pass (a chunk ends at every RD point and every 32
  # transitions), and two passes.
  common = ['--bdmc_points=none',
            f'--model={files["model"]}', f'--dataset=npz:{files["data"]}',
            '--num_images=3', '--num_chains=4', '--num_intermediate=400',
            '--num_rd_points=6', '--beta_max=20', '--min_before_first=100',
            '--min_between=10', '--leapfrog_steps=3', '--seed=4',
            '--save_reconstructions']
  reference_dir = tmp_path / 'reference'
  assert _run('apps.rd_curve', *common,
              f'--output_dir={reference_dir}').returncode == 0
  killed_dir = tmp_path / 'killed'
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
  process = subprocess.Popen(
      [sys.executable, '-m', 'apps.rd_curve', *common,
       f'--output_dir={killed_dir}', '--checkpoint_interval_s=0'],
      cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
      text=True)
  # The kill is driven by what the run reports, not by timing: with
  # --checkpoint_interval_s=0 tfrd.ais checkpoints at the end of every chunk
  # and only then reports it, so the first progress line (after the first
  # chunk of about 40) says a checkpoint is on disk and nearly all the run is
  # still ahead; it cannot finish between reading the line and the kill.
  seen = []
  try:
    for line in process.stderr:
      seen.append(line)
      if line.startswith(('[preliminary ', '[reported ')):
        break
    else:
      pytest.fail(f'the run printed no progress line:\n{"".join(seen)}')
    assert process.poll() is None, 'the run ended before it could be killed'
    process.send_signal(signal.SIGKILL)
  finally:
    if process.poll() is None:
      process.kill()
    returncode = process.wait()
    process.stderr.close()
  assert returncode == -signal.SIGKILL, (returncode, ''.join(seen)[-3000:])
  assert (killed_dir / 'checkpoint').is_dir()
  assert not (killed_dir / 'curve.json').exists()
  refused = _run('apps.rd_curve', *common, f'--output_dir={killed_dir}')
  assert refused.returncode == 2 and '--resume' in refused.stderr
  resumed = _run('apps.rd_curve', *common, f'--output_dir={killed_dir}',
                 '--resume')
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  with open(reference_dir / 'curve.json') as stream:
    reference = json.load(stream)['points']
  with open(killed_dir / 'curve.json') as stream:
    points = json.load(stream)['points']
  assert points == reference
  assert (killed_dir / 'reconstructions.png').exists()
  assert not (killed_dir / 'checkpoint').exists()

  # The step sizes of that run (the default Hessian mass matrix) cannot be
  # replayed: one line, status 2, nothing written.
  replay_dir = tmp_path / 'replay'
  refused = _run('apps.rd_curve', *common[:-2], '--seed=5',
                 f'--step_sizes={reference_dir / "step_sizes.npz"}',
                 f'--output_dir={replay_dir}')
  assert refused.returncode == 2, refused.stderr[-3000:]
  assert 'hessian mass matrix' in refused.stderr
  assert not replay_dir.exists()
  # A plain-HMC run's, replayed with another seed: one pass only.
  identity_dir = tmp_path / 'identity'
  assert _run('apps.rd_curve', *common[:-2], '--mass_matrix=identity',
              f'--output_dir={identity_dir}').returncode == 0
  replay = _run('apps.rd_curve', *common[:-2], '--seed=5',
                f'--step_sizes={identity_dir / "step_sizes.npz"}',
                f'--output_dir={replay_dir}')
  assert replay.returncode == 0, replay.stderr[-3000:]
  assert '[reported 1/1]' in replay.stderr and 'preliminary' not in (
      replay.stderr)
  with open(replay_dir / 'curve.json') as stream:
    config = json.load(stream)['config']
  assert config['step_size_mode'] == 'table'
  assert config['mass_matrix'] == 'identity'
