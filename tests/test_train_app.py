"""apps.train and apps.entropic_gan end to end, as a user runs them."""

import json

import numpy as np
import pytest

import zoo

import app_runner  # pylint: disable=g-bad-import-order

REPO = app_runner.REPO
TINY = ['--code_size=3', '--width=16', '--num_train=64', '--batch_size=32',
        '--log_interval_s=0']
TINY_AIS_FLAGS = ['--num_chains=2', '--num_intermediate=20',
                  '--num_rd_points=2', '--beta_max=2', '--min_before_first=0',
                  '--min_between=0', '--leapfrog_steps=2',
                  '--step_size_mode=fixed', '--schedule=linear', '--jit=false',
                  '--num_images=2']


_run = app_runner.run_app


def _weights(path):
  import keras  # pylint: disable=g-import-not-at-top
  return keras.saving.load_model(path, compile=False).get_weights()


@pytest.mark.slow
def test_train_then_rd_curve_with_no_extra_flags(tmp_path):
  """A trained decoder is what apps.rd_curve evaluates, as it is."""
  output = tmp_path / 'egan.keras'
  result = _run('apps.train', '--family=entropic_gan', '--dataset=mnist',
                '--epochs=2', '--samples_every=1', '--entropic_lambda=0.5',
                f'--output={output}', *TINY)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'train: epoch 2/2 done' in result.stderr
  assert 'step 1/2' in result.stderr  # progress lines within epochs
  for name in ('egan.keras', 'egan.json', 'egan_samples.png',
               'egan_critics.keras', 'egan_samples/epoch_001.png',
               'egan_samples/epoch_002.png'):
    assert (tmp_path / name).is_file(), name
  document = zoo.metadata.read(str(output))
  assert document['family'] == 'entropic_gan'
  assert document['latent_dim'] == 3
  assert document['output_shape'] == [28, 28, 1]
  assert document['output_range'] == [0.0, 1.0]
  assert document['entropic_regularization'] == 0.5
  assert document['training_command'].startswith(
      'python -m apps.train --family=entropic_gan')
  assert document['training']['steps'] == 4

  curve_dir = tmp_path / 'curve'
  result = _run('apps.rd_curve', f'--model={output}', '--dataset=mnist',
                f'--output_dir={curve_dir}', *TINY_AIS_FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(curve_dir / 'curve.json') as stream:
    curve = json.load(stream)
  assert [point['beta'] for point in curve['points']][-1] == 2.0
  assert curve['config']['decoder_output_shape'] == [28, 28, 1]

  result = _run('apps.entropic_gan', f'--model={output}', '--num_images=2',
                '--num_prior_samples=64', '--num_chains=2',
                '--num_intermediate=20', '--num_rd_points=2',
                '--leapfrog_steps=2', '--step_size_mode=fixed',
                f'--output_dir={tmp_path / "entropic"}')
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'entropic' / 'entropic_gan.json') as stream:
    summary = json.load(stream)
  assert summary['beta'] == 2.0
  per_image = summary['per_image']
  # Gibbs: on the same prior samples, surrogate <= importance sampling.
  assert all(s <= i + 1e-6 for s, i in zip(
      per_image['surrogate_log_likelihood'],
      per_image['importance_log_likelihood']))
  assert (tmp_path / 'entropic' / 'entropic_gan.png').is_file()


@pytest.mark.slow
def test_same_seed_same_decoder_and_exact_resume(tmp_path):
  common = ['--family=wgan_gp', '--dataset=synthetic32', '--width=4',
            '--samples_every=0', '--code_size=3', '--num_train=64',
            '--batch_size=32', '--seed=5']
  straight = tmp_path / 'straight.keras'
  result = _run('apps.train', '--epochs=2', f'--output={straight}', *common)
  assert result.returncode == 0, result.stderr[-3000:]

  checkpoint_dir = tmp_path / 'checkpoint'
  first = tmp_path / 'first.keras'
  result = _run('apps.train', '--epochs=1', f'--output={first}',
                f'--checkpoint_dir={checkpoint_dir}', *common)
  assert result.returncode == 0, result.stderr[-3000:]
  resumed = tmp_path / 'resumed.keras'
  result = _run('apps.train', '--epochs=2', f'--output={resumed}',
                f'--checkpoint_dir={checkpoint_dir}', *common)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'after 1 epochs and 0 steps' in result.stderr
  assert 'epoch 1/2' not in result.stderr  # only the second epoch ran
  for expected, actual in zip(_weights(straight), _weights(resumed)):
    np.testing.assert_array_equal(expected, actual)

  # The checkpoint belongs to this configuration only (a new output: the
  # finished one is refused before the checkpoint is even looked at).
  result = _run('apps.train', '--epochs=2',
                f'--output={tmp_path / "other_seed.keras"}',
                f'--checkpoint_dir={checkpoint_dir}',
                *[flag for flag in common if flag != '--seed=5'], '--seed=6')
  assert result.returncode == 2
  assert 'another training run' in result.stderr and 'seed' in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize('args, message', [
    (['--family=gan'], '--output is required'),
    (['--family=gan', '--output=x.h5'], 'must end in .keras'),
    (['--family=vqvae', '--output=x.keras'], 'family'),
    (['--family=gan', '--output=x.keras', '--batch_size=128',
      '--num_train=64'], 'larger than'),
    (['--family=gan', '--output=x.keras', '--dataset=npz:/no/such.npz'],
     'does not exist'),
    (['--family=gan', '--output=x.keras', '--dataset=synthetic32',
      '--architecture=dcgan', '--num_train=8', '--batch_size=8',
      '--depth=deep', '--code_size=0'], 'code_size'),
])
def test_train_bad_input(args, message, tmp_path):
  result = _run('apps.train', *[arg.replace('x.keras',
                                            str(tmp_path / 'x.keras'))
                                for arg in args])
  assert result.returncode != 0
  assert message in result.stderr, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr


@pytest.mark.slow
def test_train_cifar10_without_prepared_data_says_how(tmp_path):
  result = _run('apps.train', '--family=gan', '--dataset=cifar10',
                f'--output={tmp_path / "x.keras"}', '--num_train=64',
                env={'TFDS_DATA_DIR': str(tmp_path / 'tfds')})
  assert result.returncode == 2
  assert 'CIFAR-10' in result.stderr and 'not prepared' in result.stderr
  assert 'Traceback' not in result.stderr
