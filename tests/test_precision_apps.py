"""--decoder_precision and --device in apps.bdmc and apps.linear_vae.

The flags are `apps.precision_flags`' (tested with apps.rd_curve in
tests/test_precision.py); here: that both apps offer them in --help, refuse
bad values before any work, and record what a run computed in.
"""

import json
import os

import numpy as np
import pytest

import app_runner  # pylint: disable=g-bad-import-order

REPO = app_runner.REPO
TINY_AIS_FLAGS = list(app_runner.TINY_AIS_FLAGS)
DATA_DIR = os.environ.get('TFRD_DATA_DIR') or os.path.join(
    os.path.dirname(REPO), 'shared', 'data')
APPS = ('apps.bdmc', 'apps.linear_vae')


@pytest.fixture(scope='module')
def model(tmp_path_factory):
  import keras  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  decoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(24)])
  decoder.layers[-1].set_weights([
      (rng.normal(size=(3, 24)) * 0.3).astype(np.float32),
      np.full(24, 0.4, np.float32)])
  path = str(tmp_path_factory.mktemp('precision_apps') / 'linear.keras')
  decoder.save(path)
  return path


def _model_args(module, model_path):
  return [f'--model={model_path}'] if module == 'apps.bdmc' else []


def _linear_vae_data():
  if not os.path.isdir(os.path.join(DATA_DIR, 'mnist')):
    pytest.skip(f'no MNIST files in {DATA_DIR} to fit the linear decoder.')
  return [f'--data_dir={DATA_DIR}', '--num_train=300', '--latent_dim=4',
          '--num_images=2', '--distortions=mse']


@pytest.mark.parametrize('module', APPS)
def test_help_shows_the_flags(module):
  # absl prints the help and exits with status 1.
  result = app_runner.run_app(module, '--help')
  assert '--decoder_precision' in result.stdout
  # TF32 emulation is benchmarks.precision_study's, not an app precision.
  assert '<float32|tf32|bfloat16>' in result.stdout
  assert '--device' in result.stdout


def _refused(module, model_path, tmp_path, *args):
  """Runs `module` with `args`; checks it did nothing; its stderr lines."""
  output_dir = tmp_path / 'out'
  result = app_runner.run_app(module, *_model_args(module, model_path),
                              f'--output_dir={output_dir}', *args)
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr, result.stderr[-2000:]
  assert not os.path.exists(output_dir)
  return result.returncode, result.stderr.strip().splitlines()


@pytest.mark.parametrize('module', APPS)
def test_unknown_precision_is_refused_before_any_work(module, model,
                                                      tmp_path):
  _, lines = _refused(module, model, tmp_path, '--decoder_precision=float16')
  # absl's flag parser refuses the value, as for apps.rd_curve: its line,
  # then its hint to see --help.
  assert 'flag --decoder_precision=float16: value should be one of ' \
         '<float32|tf32|bfloat16>' in lines[0], lines


@pytest.mark.slow  # the app loads TensorFlow to list the devices
@pytest.mark.parametrize('module', APPS)
def test_unknown_device_is_refused_in_one_line_before_any_work(module, model,
                                                               tmp_path):
  status, lines = _refused(module, model, tmp_path, '--device=/GPU:7')
  assert status == 2 and len(lines) == 1, lines
  program = module.split('.')[1]
  assert lines[0].startswith(f'{program}: error: --device=/GPU:7: no such '
                             f'device; available devices: ')
  assert '/device:CPU:0' in lines[0]


@pytest.mark.slow  # starts apps.bdmc, which loads TensorFlow
def test_bdmc_refuses_bfloat16_under_xla_in_one_line(model, tmp_path):
  status, lines = _refused('apps.bdmc', model, tmp_path,
                           '--decoder_precision=bfloat16', '--jit=true')
  assert status == 2 and len(lines) == 1, lines
  assert lines[0].startswith('bdmc: error: --decoder_precision=bfloat16 '
                             'needs --jit=false or auto')


# End-to-end runs: 10 to 30 s each on 2 busy cores.
@pytest.mark.slow
def test_bdmc_records_the_precision(model, tmp_path):
  output_dir = tmp_path / 'out'
  result = app_runner.run_app(
      'apps.bdmc', f'--model={model}', f'--output_dir={output_dir}',
      '--rd_points=10', '--num_images=2', '--decoder_precision=bfloat16',
      '--device=/CPU:0', *TINY_AIS_FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(output_dir / 'bdmc.json') as stream:
    document = json.load(stream)
  config = document['config']
  assert config['decoder_precision'] == 'bfloat16'
  assert config['tf32_execution'] is False
  assert config['device'] == '/device:CPU:0'
  assert np.isfinite(document['max_gap'])


@pytest.mark.slow
def test_linear_vae_records_the_precision(tmp_path):
  result = app_runner.run_app(
      'apps.linear_vae', f'--output_dir={tmp_path}', *_linear_vae_data(),
      '--decoder_precision=bfloat16', *TINY_AIS_FLAGS,
      # A tiny run is far from the closed form; the verdict is not tested.
      '--rate_tolerance_nats=1000', '--distortion_tolerance_relative=10')
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'linear_vae.json') as stream:
    summary = json.load(stream)
  assert summary['decoder_precision'] == 'bfloat16'
  assert summary['tf32_execution'] is False
  assert summary['device'] is None
  with open(tmp_path / 'mse' / 'curve.json') as stream:
    curve_config = json.load(stream)['config']
  assert curve_config['decoder_precision'] == 'bfloat16'
  assert np.all(np.isfinite(summary['results']['mse']['rate_ais']))
