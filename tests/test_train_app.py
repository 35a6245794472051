"""apps.train and apps.entropic_gan end to end, as a user runs them, and
their pipelines (pipelines.training, pipelines.entropic_gan) in process."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from adapters import datasets
from pipelines import entropic_gan
from pipelines import output_files
from pipelines import settings as pipeline_settings
from pipelines import training
import tfrd
import zoo

import app_runner  # pylint: disable=g-bad-import-order

REPO = app_runner.REPO
TINY = ['--code_size=3', '--width=16', '--num_train=64', '--batch_size=32',
        '--log_interval_s=0']
TINY_AIS_FLAGS = ['--num_chains=2', '--num_intermediate=20',
                  '--num_rd_points=2', '--beta_max=2', '--min_before_first=0',
                  '--min_between=0', '--leapfrog_steps=2',
                  '--step_size_mode=fixed', '--schedule=linear', '--jit=false',
                  '--num_images=2', '--bdmc_points=none']


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
def test_sigterm_stops_training_with_a_checkpoint_and_the_command_resumes(
    tmp_path):
  """SIGTERM, as a batch scheduler sends it, stops training after the step
  it arrives in, with a checkpoint (not only the epoch's): status 143, the
  line says where the checkpoint is, and the same command continues."""
  flags = ['--family=wgan_gp', '--dataset=synthetic32', '--width=4',
           '--samples_every=0', '--code_size=3', '--num_train=64',
           '--batch_size=32', '--epochs=100000', '--log_interval_s=0',
           '--checkpoint_interval_s=100000',
           f'--checkpoint_dir={tmp_path / "checkpoint"}',
           f'--output={tmp_path / "model.keras"}']
  status, rest = app_runner.signal_app_at_line(
      'apps.train', flags, 'train: epoch 1/100000 step 1/2', signal.SIGTERM)
  assert status == 128 + signal.SIGTERM, rest[-3000:]
  assert 'train: SIGTERM received; checkpoint written to ' in rest
  assert 'run the same command' in rest
  assert not (tmp_path / 'model.keras').exists()
  resumed = _run('apps.train', *[flag.replace('--epochs=100000', '--epochs=3')
                                 for flag in flags])
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert 'resumed from' in resumed.stderr
  assert (tmp_path / 'model.keras').is_file()


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


# The pipelines, in process.


def _mnist_train_data(num_train=64):
  data = training.TrainingData(dataset='mnist', num_train=num_train)
  try:
    training.load_training_images(data)
  except datasets.DatasetError as error:
    pytest.skip(f'MNIST not available: {error}')
  return data


def _tiny_job(output, epochs=1, checkpoint_dir=None, seed=0):
  return training.TrainJob(
      recipe=training.ModelRecipe('vae', code_size=3, width=16),
      data=_mnist_train_data(),
      training=training.TrainingSettings(
          epochs=epochs, batch_size=32, seed=seed,
          checkpoint_dir=checkpoint_dir and str(checkpoint_dir),
          log_interval_s=0),
      export=training.ExportSettings(output=str(output), samples_every=0,
                                     command='python -m apps.train ...'))


def test_train_and_export_writes_the_decoder_and_its_metadata(tmp_path):
  output = tmp_path / 'vae.keras'
  document = training.train_and_export(_tiny_job(output))
  for name in ('vae.keras', 'vae.json', 'vae_samples.png'):
    assert (tmp_path / name).is_file(), name
  assert not (tmp_path / 'vae_samples').exists()  # samples_every=0
  assert zoo.metadata.read(str(output)) == json.loads(json.dumps(dict(
      document, format=zoo.metadata.FORMAT)))
  assert document['training_command'] == 'python -m apps.train ...'
  assert document['training']['steps'] == 2  # 64 images, batches of 32
  assert document['training']['seed'] == 0
  assert document['recipe']['vae']['learning_rate'] == 1e-4
  assert 'D.1' in document['recipe']['vae']['source']
  assert document['latent_dim'] == 3 and document['output_shape'] == [
      28, 28, 1]
  assert 'observation_scale' in document and (
      '--distortion=gaussian_nll' in document['rd_curve_command_nll'])
  # A second run into the same files is refused before any work.
  with pytest.raises(output_files.OutputError,
                     match='pass --overwrite'):
    training.train_and_export(_tiny_job(output))


def _as_a_new_process(job):
  """`train_and_export(job)` as in a process of its own: the training config
  records the optimizers' names, which Keras numbers per process (adam,
  adam_1, ...)."""
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.clear_session()
  return training.train_and_export(job)


@pytest.mark.slow
def test_a_resumed_training_is_the_uninterrupted_one(tmp_path):
  straight = _as_a_new_process(_tiny_job(tmp_path / 'straight.keras',
                                         epochs=2, seed=5))
  checkpoint_dir = tmp_path / 'checkpoint'
  _as_a_new_process(_tiny_job(tmp_path / 'first.keras', epochs=1,
                              checkpoint_dir=checkpoint_dir, seed=5))
  resumed = _as_a_new_process(_tiny_job(
      tmp_path / 'resumed.keras', epochs=2, checkpoint_dir=checkpoint_dir,
      seed=5))
  assert resumed['training']['epoch_mean_losses'] == (
      straight['training']['epoch_mean_losses'][1:])
  for expected, actual in zip(_weights(tmp_path / 'straight.keras'),
                              _weights(tmp_path / 'resumed.keras')):
    np.testing.assert_array_equal(expected, actual)
  # The checkpoint resumes only the configuration that wrote it.
  with pytest.raises(zoo.training.TrainingCheckpointError, match='seed'):
    _as_a_new_process(_tiny_job(
        tmp_path / 'other_seed.keras', epochs=2,
        checkpoint_dir=checkpoint_dir, seed=6))


def test_the_steps_apps_reproduce_composes():
  """build_model, make_trainer and model_metadata: a trained decoder and its
  record, the same weights for the same seed."""
  recipe = training.ModelRecipe('wgan_gp', code_size=2, architecture='mlp',
                                width=8)
  images = training.load_training_images(_mnist_train_data())
  settings = training.TrainingSettings(epochs=1, batch_size=32, seed=3,
                                       checkpoint_dir=None, log_interval_s=0)
  weights = []
  for unused_run in range(2):
    model = training.build_model(recipe, images.shape[1:], settings.seed)
    trainer = training.make_trainer(model, images, settings,
                                    config={'anything': 'the caller records'})
    trainer.fit(settings.epochs)
    weights.append(model.decoder.get_weights())
  for first, second in zip(*weights):
    np.testing.assert_array_equal(first, second)
  metadata = training.model_metadata(recipe, model, trainer)
  assert list(metadata)[:5] == ['description', 'hyperparameters', 'recipe',
                                'steps', 'epoch_mean_losses']
  assert metadata['description'] == zoo.DESCRIPTIONS['wgan_gp']
  assert metadata['recipe'] == model.recipe_record()
  assert 'Gulrajani' in metadata['recipe']['critic']['source']
  json.dumps(metadata)


def test_entropic_gan_likelihoods_of_the_pretrained_model(tmp_path):
  job = entropic_gan.EntropicGANJob(
      images=pipeline_settings.DataSettings(num_images=2, image_offset=3),
      num_prior_samples=64,
      chains=tfrd.ChainSettings(num_chains=2, jit_compile=False,
                                hmc=tfrd.HMCSettings(num_leapfrog_steps=2,
                                                     step_size_mode='fixed')),
      num_intermediate=20, num_rd_points=2, output_dir=str(tmp_path))
  try:
    summary = entropic_gan.compare_likelihoods(job)
  except datasets.DatasetError as error:
    pytest.skip(f'MNIST not available: {error}')
  assert summary['beta'] == pytest.approx(1.0 / summary['entropic_lambda'])
  per_image = summary['per_image']
  assert per_image['image_index'] == [3, 4]
  # Gibbs: on the same prior samples, surrogate <= importance sampling.
  assert all(s <= i + 1e-6 for s, i in zip(
      per_image['surrogate_log_likelihood'],
      per_image['importance_log_likelihood']))
  for name in ('entropic_gan.json', 'entropic_gan.png', 'curve.json'):
    assert (tmp_path / name).is_file(), name
  text = entropic_gan.format_summary(summary, job.output_dir)
  assert text.splitlines()[2].split()[0] == '3'
  assert text.rstrip().endswith(str(tmp_path / 'entropic_gan.json'))


def test_entropic_gan_refuses_to_replace_results(tmp_path):
  (tmp_path / 'entropic_gan.json').write_text('the user\'s')
  job = entropic_gan.EntropicGANJob(output_dir=str(tmp_path))
  with pytest.raises(output_files.OutputError,
                     match='already holds entropic_gan.json; pass '
                           '--overwrite'):
    entropic_gan.compare_likelihoods(job)
  assert (tmp_path / 'entropic_gan.json').read_text() == 'the user\'s'
  assert sorted(os.listdir(tmp_path)) == ['entropic_gan.json']


def test_entropic_gan_refuses_a_model_that_is_not_one(tmp_path):
  path = tmp_path / 'gan.keras'
  zoo.metadata.write(_saved_decoder(path), {
      'family': 'gan', 'latent_dim': 2, 'output_shape': [28, 28, 1],
      'output_range': [0.0, 1.0], 'training_command': 'python -m x'})
  job = entropic_gan.EntropicGANJob(model=str(path),
                                    output_dir=str(tmp_path / 'out'))
  with pytest.raises(ValueError, match='is a gan model, not an entropic GAN'):
    entropic_gan.compare_likelihoods(job)


def _saved_decoder(path):
  import keras  # pylint: disable=g-import-not-at-top
  model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(784),
                            keras.layers.Reshape((28, 28, 1))])
  model.save(path)
  return str(path)


@pytest.mark.parametrize('module', ['apps.train', 'apps.entropic_gan'])
def test_the_app_loads_tensorflow_only_in_main(module):
  """Importing the app (and so its --help) loads no TensorFlow; the families
  apps.train's --family lists without loading zoo are zoo's. (A fresh
  interpreter: the apps' flags share names.)"""
  script = (f'import sys\nimport {module} as app\n'
            'print("tensorflow" in sys.modules)\n'
            'print(",".join(getattr(app, "FAMILIES", ())))\n')
  result = subprocess.run(
      [sys.executable, '-c', script], cwd=REPO,
      env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
      timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  loaded, families = result.stdout.split('\n')[:2]
  assert loaded == 'False'
  if module == 'apps.train':
    assert tuple(families.split(',')) == zoo.FAMILIES

