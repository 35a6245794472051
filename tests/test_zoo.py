"""The model zoo: every family trains, exports, reloads and gets a curve.

Budgets are tiny (64 images, width 16, one or two steps): these tests check
the plumbing and the maths of each objective, not sample quality (the
pretrained models and their sample grids show that).
"""

import json
import math
import os
import threading
import zipfile

import numpy as np
import pytest

from adapters import datasets
from adapters import keras_decoder
import tfrd

keras = pytest.importorskip('keras')
tf = pytest.importorskip('tensorflow')
import zoo  # pylint: disable=g-import-not-at-top,wrong-import-position
from zoo import entropic_gan  # pylint: disable=g-import-not-at-top,wrong-import-position
from zoo import fgan  # pylint: disable=g-import-not-at-top,wrong-import-position
from zoo import wae  # pylint: disable=g-import-not-at-top,wrong-import-position

LATENT_DIM = 3
WIDTH = 16
BATCH = 32


@pytest.fixture(scope='module')
def mnist():
  """64 MNIST training images (TFDS, offline from $TFRD_DATA_DIR)."""
  try:
    return datasets.load_dataset('mnist', 64, split='train')
  except datasets.DatasetError as error:
    pytest.skip(f'MNIST not available: {error}')


@pytest.fixture(scope='module')
def synthetic():
  return zoo.synthetic.synthetic_images(64, seed=0)


def _tiny_schedule():
  return tfrd.build_schedule([0.5, 2.0], tfrd.linear_betas(20, 2.0), 0, 0)


def _train(family, images, epochs=1, checkpoint_dir=None, width=WIDTH,
           **options):
  keras.utils.set_random_seed(0)
  model = zoo.build_model(family, images.shape[1:], LATENT_DIM,
                          zoo.Networks(width=width), seed=0, **options)
  model.compile()
  trainer = zoo.training.Trainer(model, images, BATCH, seed=0,
                                 checkpoint_dir=checkpoint_dir,
                                 log_interval_s=1e9,
                                 stream=open(os.devnull, 'w'))
  trainer.fit(epochs)
  return model, trainer


def _export_reload_evaluate(model, images, path):
  """Saves the decoder, loads it as apps.rd_curve does, runs tiny AIS."""
  model.decoder.save(path)
  decoder = keras_decoder.load_keras_decoder(path)
  assert decoder.latent_dim == LATENT_DIM
  assert decoder.output_shape == images.shape[1:]
  latents = np.random.default_rng(1).standard_normal(
      (5, LATENT_DIM)).astype(np.float32)
  outputs = np.asarray(decoder(latents))
  assert outputs.min() >= 0.0 and outputs.max() <= 1.0
  np.testing.assert_allclose(
      outputs, np.asarray(model.decoder(latents, training=False)), atol=1e-6)
  curve = tfrd.estimate_rd_curve(
      decoder, images[:2], tfrd.SquaredError(), _tiny_schedule(),
      latent_dim=decoder.latent_dim,
      chains=tfrd.ChainSettings(
          num_chains=2, jit_compile=False,
          hmc=tfrd.HMCSettings(num_leapfrog_steps=2, step_size_mode='fixed')))
  assert curve.betas.tolist() == [0.5, 2.0]
  assert np.all(np.isfinite(curve.rate))
  # Exact for squared error whatever the noise of 2 chains: every AIS
  # weight is exp(-β·d) <= 1, so log Ẑ <= 0, and d >= 0.
  assert np.all(curve.log_z_per_image <= 0.0)
  assert np.all(curve.distortion >= 0.0)
  return curve


MLP_CASES = [
    ('vae', {}),
    ('gan', {}),
    ('gan', {'gan_r1_weight': 10.0}),
    ('aae', {}),
    ('wae', {'wae_penalty': 'mmd'}),
    ('wae', {'wae_penalty': 'gan'}),
    ('wgan_gp', {}),
    ('sngan', {}),
    ('fgan', {'divergence': 'js'}),
    ('entropic_gan', {}),
]  # wgan: test_wgan_trains_with_fit_exports_and_evaluates


def _case_id(family, options):
  return '-'.join([family] + [str(value) for value in options.values()])


@pytest.mark.parametrize('family, options', MLP_CASES,
                         ids=[_case_id(*case) for case in MLP_CASES])
def test_mlp_family_trains_exports_and_evaluates(family, options, mnist,
                                                 tmp_path):
  model, trainer = _train(family, mnist, **options)
  assert int(model.train_steps.numpy()) == 2  # 64 images, batches of 32
  assert all(math.isfinite(value) for value in trainer.history[-1].values())
  _export_reload_evaluate(model, mnist, str(tmp_path / f'{family}.keras'))
  _check_family_specifics(model, mnist)


def _check_family_specifics(model, images):
  """What only one family has, checked on the model just trained."""
  if model.family == 'vae':
    # σ² is learned (it moved from its start) and exported.
    assert model.observation_variance != pytest.approx(0.1)
    exported = model.export_metadata()
    assert exported['observation_variance'] == pytest.approx(
        model.observation_variance)
    assert exported['observation_scale'] == pytest.approx(
        math.sqrt(model.observation_variance))
  elif model.family == 'sngan':
    for layer in model.discriminator.layers:
      if isinstance(layer, zoo.SpectralNormDense):
        matrix = np.asarray(layer.normalized_kernel()).reshape(
            -1, layer.kernel.shape[-1])
        # A couple of power-iteration steps from a random start
        # underestimate σ, but not by much.
        assert np.linalg.svd(matrix, compute_uv=False)[0] < 3.0
  elif model.family == 'entropic_gan':
    result = entropic_gan.surrogate_log_likelihood(
        model.decoder, model.critics(), images[:3],
        model.regularization, num_samples=256)
    # Gibbs: on the same prior samples, surrogate <= importance sampling.
    assert np.all(result['surrogate'] <=
                  result['importance_log_likelihood'] + 1e-9)
    assert result['log_normalizer'] == pytest.approx(
        -0.5 * 784 * math.log(math.pi * model.regularization))

    # With a constant D2 the coupling weights are the prior's Gibbs
    # weights, and the bound is attained: surrogate == importance estimate.
    def constant_critic(batch):
      return np.zeros((batch.shape[0], 2), np.float32)

    flat = entropic_gan.surrogate_log_likelihood(
        model.decoder, constant_critic, images[:3], model.regularization,
        num_samples=256)
    np.testing.assert_allclose(flat['surrogate'],
                               flat['importance_log_likelihood'], rtol=1e-9)


def test_wgan_trains_with_fit_exports_and_evaluates(mnist, tmp_path):
  """The custom train steps also run under plain `model.fit`."""
  keras.utils.set_random_seed(0)
  model = zoo.build_model('wgan', (28, 28, 1), LATENT_DIM,
                          zoo.Networks(width=WIDTH))
  model.compile()
  history = model.fit(mnist, batch_size=BATCH, epochs=1, verbose=0)
  assert int(model.train_steps.numpy()) == 2
  assert math.isfinite(history.history['g_loss'][-1])
  # Weight clipping keeps every critic weight in [-0.01, 0.01].
  assert max(float(np.abs(w).max()) for w in model.critic.get_weights()) <= (
      0.01 + 1e-7)
  _export_reload_evaluate(model, mnist, str(tmp_path / 'wgan.keras'))


@pytest.mark.parametrize('divergence', sorted(fgan.DIVERGENCES))
def test_fgan_divergences_train(divergence, mnist):
  model, trainer = _train('fgan', mnist, divergence=divergence)
  assert model.divergence == divergence
  assert all(math.isfinite(value) for value in trainer.history[-1].values())


@pytest.mark.parametrize('family', ['gan', 'vae', 'wgan_gp', 'sngan'])
def test_dcgan_family_on_synthetic_32x32x3(family, synthetic, tmp_path):
  model, _ = _train(family, synthetic[:BATCH], width=4)
  assert model.decoder.output_shape == (None, 32, 32, 3)
  assert any(isinstance(layer, keras.layers.Conv2DTranspose)
             for layer in model.decoder.layers)
  _export_reload_evaluate(model, synthetic, str(tmp_path / f'{family}.keras'))


def _all_values(model, trainer):
  values = [v.numpy() for v in model.variables]
  for optimizer in model.optimizers.values():
    values += [v.numpy() for v in optimizer.variables]
  return values + [trainer.epoch.numpy(), trainer.step_in_epoch.numpy()]


@pytest.mark.parametrize('interruption', ['keyboard_interrupt',
                                          'stop_request'])
def test_interrupted_run_resumes_exactly(interruption, mnist, tmp_path):
  """Interrupted mid-epoch, resumed from its checkpoint: the same as the
  uninterrupted run. A KeyboardInterrupt raised inside the second epoch's
  second step finds the checkpoint written after every step; a stop request
  (SIGTERM's event) set during its first step is honoured after that step,
  with a checkpoint written then and only then."""
  family = 'sngan'
  straight, straight_trainer = _train(family, mnist, epochs=2)
  checkpoint_dir = str(tmp_path / 'checkpoint')
  keras.utils.set_random_seed(0)
  model = zoo.build_model(family, mnist.shape[1:], LATENT_DIM,
                          zoo.Networks(width=WIDTH))
  model.compile()
  by_request = interruption == 'stop_request'
  trainer = zoo.training.Trainer(
      model, mnist, BATCH, seed=0, checkpoint_dir=checkpoint_dir,
      checkpoint_interval_s=1e9 if by_request else 0.0, log_interval_s=1e9,
      stream=open(os.devnull, 'w'))
  original_step, calls = trainer._step, []  # pylint: disable=protected-access
  stop = threading.Event()

  def interrupting_step(batch):
    calls.append(1)
    if len(calls) == 4 and not by_request:
      raise KeyboardInterrupt
    if len(calls) == 3 and by_request:
      stop.set()  # as SIGTERM does while the step runs
    return original_step(batch)

  trainer._step = interrupting_step  # pylint: disable=protected-access
  if by_request:
    with pytest.raises(tfrd.RunInterrupted) as raised:
      trainer.fit(2, stop=stop)
    assert raised.value.checkpoint_path.startswith(checkpoint_dir)
    assert len(calls) == 3
  else:
    with pytest.raises(KeyboardInterrupt):
      trainer.fit(2)
  # A fresh process would build everything anew with other initial weights.
  keras.utils.set_random_seed(123)
  resumed = zoo.build_model(family, mnist.shape[1:], LATENT_DIM,
                            zoo.Networks(width=WIDTH))
  resumed.compile()
  resumed_trainer = zoo.training.Trainer(
      resumed, mnist, BATCH, seed=0, checkpoint_dir=checkpoint_dir,
      log_interval_s=1e9, stream=open(os.devnull, 'w'))
  assert resumed_trainer.restore()
  assert resumed_trainer.position == (1, 1)
  resumed_trainer.fit(2)
  for expected, actual in zip(_all_values(straight, straight_trainer),
                              _all_values(resumed, resumed_trainer)):
    np.testing.assert_array_equal(expected, actual)


def test_a_stop_request_without_a_checkpoint_directory_says_so(mnist):
  keras.utils.set_random_seed(0)
  model = zoo.build_model('gan', mnist.shape[1:], LATENT_DIM,
                          zoo.Networks(width=WIDTH))
  model.compile()
  trainer = zoo.training.Trainer(model, mnist, BATCH, seed=0,
                                 log_interval_s=1e9,
                                 stream=open(os.devnull, 'w'))
  stop = threading.Event()
  stop.set()
  with pytest.raises(tfrd.RunInterrupted) as raised:
    trainer.fit(1, stop=stop)
  assert raised.value.checkpoint_path is None
  assert trainer.position == (0, 1)


def test_checkpoint_of_another_configuration_is_refused(mnist, tmp_path):
  checkpoint_dir = str(tmp_path / 'checkpoint')
  model, _ = _train('gan', mnist, checkpoint_dir=None)
  trainer = zoo.training.Trainer(model, mnist, BATCH,
                                 checkpoint_dir=checkpoint_dir,
                                 config={'batch_size': 32})
  trainer.save()
  other = zoo.training.Trainer(model, mnist, 16,
                               checkpoint_dir=checkpoint_dir,
                               config={'batch_size': 16})
  with pytest.raises(zoo.training.TrainingCheckpointError, match='batch_size'):
    other.restore()


def test_same_seed_same_weights(mnist):
  first, _ = _train('gan', mnist)
  second, _ = _train('gan', mnist)
  for a, b in zip(first.decoder.get_weights(), second.decoder.get_weights()):
    np.testing.assert_array_equal(a, b)


def test_vae_negative_elbo_matches_hand_computation():
  keras.utils.set_random_seed(0)
  model = zoo.build_model('vae', (2, 2, 1), 1, zoo.Networks(width=4))
  images = np.full((1, 2, 2, 1), 0.5, np.float32)
  nll, kl = model.negative_elbo(images)
  mean, log_variance_q = np.split(np.asarray(model.encoder(images)), 2, -1)
  noise = np.asarray(tf.random.stateless_normal(mean.shape, model._seed(0)))  # pylint: disable=protected-access
  reconstruction = np.asarray(model.decoder(
      mean + np.exp(0.5 * log_variance_q) * noise))
  variance = model.observation_variance
  expected_nll = 0.5 * np.sum((images - reconstruction)**2 / variance +
                              np.log(2 * np.pi * variance))
  expected_kl = 0.5 * np.sum(mean**2 + np.exp(log_variance_q) -
                             log_variance_q - 1)
  # float32: the NLL is a small difference of two terms of size ~10.
  assert float(nll[0]) == pytest.approx(expected_nll, abs=1e-4)
  assert float(kl[0]) == pytest.approx(expected_kl, rel=1e-5, abs=1e-6)


def test_spectral_norm_layer_converges_to_largest_singular_value():
  keras.utils.set_random_seed(0)
  layer = zoo.SpectralNormDense(5)
  inputs = np.ones((1, 7), np.float32)
  layer(inputs)
  for _ in range(50):
    layer(inputs, training=True)  # one power-iteration step per call
  kernel = layer.kernel.numpy()
  assert layer.spectral_norm() == pytest.approx(
      np.linalg.svd(kernel, compute_uv=False)[0], rel=1e-3)
  normalized = np.asarray(layer.normalized_kernel())
  assert np.linalg.svd(normalized, compute_uv=False)[0] == pytest.approx(
      1.0, rel=1e-3)


def test_spectral_norm_gradient_flows_through_sigma():
  """d/dW of a loss of W/σ(W) has the term from σ (unlike a projection)."""
  keras.utils.set_random_seed(0)
  layer = zoo.SpectralNormDense(3, use_bias=False)
  inputs = tf.constant(np.random.default_rng(0).normal(size=(4, 3)),
                       tf.float32)
  layer(inputs)
  for _ in range(50):
    layer(inputs, training=True)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(layer(inputs))
  gradient = tape.gradient(loss, layer.kernel.value)
  # Scaling W leaves W/σ(W), hence the loss, unchanged: the gradient is
  # orthogonal to W.
  assert abs(float(tf.reduce_sum(gradient * layer.kernel.value))) < 1e-4


@pytest.mark.parametrize('divergence, conjugate', [
    ('kl', lambda t: np.exp(t - 1)),
    ('reverse_kl', lambda t: -1 - np.log(-t)),
    ('pearson', lambda t: t**2 / 4 + t),
    ('hellinger', lambda t: t / (1 - t)),
    ('js', lambda t: -np.log(2 - np.exp(t))),
])
def test_fgan_conjugates_match_nowozin_table(divergence, conjugate):
  v = tf.constant(np.linspace(-3, 3, 13), tf.float64)
  t = fgan.activation(divergence, v).numpy()
  np.testing.assert_allclose(fgan.conjugate(divergence, v).numpy(),
                             conjugate(t), rtol=1e-9, atol=1e-12)


def test_imq_mmd_separates_distributions():
  rng = np.random.default_rng(0)
  p = tf.constant(rng.normal(size=(200, 2)), tf.float32)
  q_same = tf.constant(rng.normal(size=(200, 2)), tf.float32)
  q_shifted = tf.constant(rng.normal(size=(200, 2)) + 2.0, tf.float32)
  same = float(wae.imq_mmd(p, q_same))
  shifted = float(wae.imq_mmd(p, q_shifted))
  assert abs(same) < 0.05 and shifted > 0.5


def test_pairwise_squared_error_matches_brute_force():
  rng = np.random.default_rng(0)
  a = rng.uniform(size=(3, 2, 2, 1)).astype(np.float32)
  b = rng.uniform(size=(4, 2, 2, 1)).astype(np.float32)
  expected = ((a.reshape(3, 1, -1) - b.reshape(1, 4, -1))**2).sum(-1)
  np.testing.assert_allclose(entropic_gan.pairwise_squared_error(a, b),
                             expected, rtol=1e-5, atol=1e-6)


def test_entropic_dual_forms_agree_at_the_optimal_shift():
  """exp form maximized over a shift of D1 = logsumexp form - λ."""
  keras.utils.set_random_seed(0)
  images = np.random.default_rng(0).uniform(size=(4, 2, 2, 1)).astype(
      np.float32)
  values = {}
  for form in entropic_gan.DUAL_FORMS:
    keras.utils.set_random_seed(0)
    model = zoo.build_model('entropic_gan', (2, 2, 1), 1,
                            zoo.Networks(width=4),
                            entropic_regularization=0.5)
    model.dual_form = form
    samples = model.decoder(np.zeros((4, 1), np.float32))
    if form == 'exp':
      # Shift D1 by a* = -λ log E exp(v/λ), the maximizing constant.
      value, _ = model.dual(images, samples)
      d1 = model.critic_data(images)[:, 0]
      d2 = model.critic_samples(samples)[:, 0]
      scaled = (d1[:, None] - d2[None, :] -
                entropic_gan.pairwise_squared_error(images, samples)) / 0.5
      mean_exp = float(tf.reduce_mean(tf.exp(scaled)))
      shift = -0.5 * math.log(mean_exp)
      value = float(value) + shift - 0.5 * mean_exp * (
          math.exp(shift / 0.5) - 1.0)
    else:
      value, _ = model.dual(images, samples)
    values[form] = float(value)
  assert values['exp'] == pytest.approx(values['logsumexp'] - 0.5, rel=1e-5)


def test_metadata_round_trip_and_embedded_copy(tmp_path):
  path = str(tmp_path / 'model.keras')
  keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)]).save(path)
  document = {'family': 'gan', 'latent_dim': 2, 'output_shape': [3],
              'output_range': [0.0, 1.0], 'training_command': 'python -m x'}
  sidecar = zoo.metadata.write(path, document)
  assert sidecar == str(tmp_path / 'model.json')
  assert zoo.metadata.read(path)['training_command'] == 'python -m x'
  assert zoo.metadata.read(sidecar)['family'] == 'gan'
  os.remove(sidecar)
  assert zoo.metadata.read(path)['latent_dim'] == 2  # the embedded copy
  keras.saving.load_model(path)  # Keras ignores the extra archive entry
  with zipfile.ZipFile(path) as archive:
    assert zoo.metadata.EMBEDDED_NAME in archive.namelist()


def test_metadata_errors(tmp_path):
  with pytest.raises(zoo.metadata.MetadataError, match='No metadata'):
    zoo.metadata.read(str(tmp_path / 'missing.keras'))
  (tmp_path / 'bad.json').write_text(json.dumps({'format': 'other'}))
  with pytest.raises(zoo.metadata.MetadataError, match='not tfrd zoo'):
    zoo.metadata.read(str(tmp_path / 'bad.keras'))
  with pytest.raises(zoo.metadata.MetadataError, match='lacks'):
    zoo.metadata.write(str(tmp_path / 'bad.keras'), {'family': 'gan'})


@pytest.mark.parametrize('name', zoo.pretrained.names())
def test_pretrained_models_load_and_match_their_metadata(name):
  path = zoo.pretrained.path(name)
  document = zoo.pretrained.metadata(name)
  assert document['latent_dim'] == 10
  assert document['output_shape'] == [28, 28, 1]
  assert document['training_command'].startswith('python -m apps.train ')
  assert os.path.isfile(zoo.pretrained.samples_path(name))
  decoder = keras_decoder.load_keras_decoder(path)
  outputs = np.asarray(decoder(np.zeros((2, 10), np.float32)))
  assert outputs.shape == (2, 28, 28, 1)
  assert 0.0 <= outputs.min() and outputs.max() <= 1.0
  if document['family'] == 'vae':
    assert 0.0 < document['observation_variance'] < 0.1
  if document['family'] == 'entropic_gan':
    assert document['entropic_regularization'] == 0.1
    critics = keras.saving.load_model(path[:-len('.keras')] +
                                      '_critics.keras')
    assert critics.output_shape == (None, 2)


def test_pretrained_default_and_unknown_name():
  assert zoo.pretrained.DEFAULT in zoo.pretrained.names()
  assert zoo.pretrained.ENTROPIC_GAN in zoo.pretrained.names()
  assert zoo.pretrained.path() == zoo.pretrained.path(zoo.pretrained.DEFAULT)
  with pytest.raises(ValueError, match='mnist_gan_shallow_10'):
    zoo.pretrained.path('no_such_model')


def test_pretrained_files_fit_the_size_budget():
  directory = os.path.dirname(zoo.pretrained.path())
  total = sum(os.path.getsize(os.path.join(directory, name))
              for name in os.listdir(directory)
              if name.endswith(('.keras', '.json', '.png')))
  assert total < 20 * 2**20


def test_synthetic_images_are_deterministic_images():
  first = zoo.synthetic.synthetic_images(8, seed=3)
  assert first.shape == (8, 32, 32, 3) and first.dtype == np.float32
  assert 0.0 <= first.min() and first.max() <= 1.0
  np.testing.assert_array_equal(first,
                                zoo.synthetic.synthetic_images(8, seed=3))
  assert first.std() > 0.05


def test_image_grid_layout():
  grid = zoo.images.image_grid(np.ones((5, 3, 4, 1)), columns=2, padding=1)
  assert grid.shape == (3 * 4 + 1, 2 * 5 + 1, 1) and grid.dtype == np.uint8


@pytest.mark.parametrize('kwargs, message', [
    ({'family': 'vqvae'}, 'Unknown model family'),
    ({'family': 'gan', 'networks': {'architecture': 'dcgan'}}, '32×32'),
    ({'family': 'gan', 'networks': {'depth': 'medium'}}, 'depth'),
    ({'family': 'gan', 'networks': {'width': 0}}, 'width'),
    ({'family': 'fgan', 'divergence': 'tv'}, 'f-divergence'),
    ({'family': 'wae', 'wae_penalty': 'sinkhorn'}, 'penalty'),
    ({'family': 'entropic_gan', 'entropic_regularization': 0.0}, 'positive'),
])
def test_build_model_rejects_bad_settings(kwargs, message):
  with pytest.raises(ValueError, match=message):
    networks = kwargs.pop('networks', {})
    zoo.build_model(image_shape=(28, 28, 1), latent_dim=2,
                    networks=zoo.Networks(**{'width': 4, **networks}),
                    **kwargs)


@pytest.mark.parametrize('family', zoo.FAMILIES)
def test_every_family_trains_with_its_recorded_recipe(family):
  options = {'wae_penalty': 'gan'} if family == 'wae' else {}
  model = zoo.build_model(family, (28, 28, 1), 2, zoo.Networks(width=4),
                          **options)
  model.compile()
  recipe = zoo.recipe(family)
  assert set(model.optimizers) == set(recipe) == set(model.recipe_record())
  for name, optimizer in model.optimizers.items():
    entry = recipe[name]
    assert entry.source, (family, name)
    assert model.recipe_record()[name]['source'] == entry.source
    assert type(optimizer).__name__.lower() == entry.optimizer
    assert float(optimizer.learning_rate) == pytest.approx(entry.learning_rate)
    if entry.optimizer == 'adam':
      assert (optimizer.beta_1, optimizer.beta_2) == (entry.beta_1,
                                                      entry.beta_2)
  # A replaced learning rate replaces every one; the rest of the recipe stays.
  model.compile(learning_rate=3e-3)
  assert all(float(optimizer.learning_rate) == pytest.approx(3e-3)
             for optimizer in model.optimizers.values())


def test_vae_recipe_is_appendix_d1s():
  assert zoo.recipe('vae') == {'vae': zoo.OptimizerRecipe(
      'adam', 1e-4, source=zoo.recipe('vae')['vae'].source)}
  assert 'D.1' in zoo.recipe('vae')['vae'].source
  wae = zoo.build_model('wae', (28, 28, 1), 2, zoo.Networks(width=4))
  assert set(wae.recipe()) == {'autoencoder'}  # no adversary with MMD


def test_trainer_rejects_batch_larger_than_data(mnist):
  model = zoo.build_model('gan', (28, 28, 1), 2, zoo.Networks(width=4))
  model.compile()
  with pytest.raises(ValueError, match='batch size'):
    zoo.training.Trainer(model, mnist[:8], 16)
