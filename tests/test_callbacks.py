"""RDCurveCallback in a Keras 3 `fit`: curves, history and event files."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfrd
from tfrd import callbacks

LATENT_DIM, DATA_DIM = 2, 16


def _autoencoder():
  decoder = keras.Sequential([
      keras.Input((LATENT_DIM,)),
      keras.layers.Dense(DATA_DIM, activation='sigmoid')], name='decoder')
  model = keras.Sequential([
      keras.Input((DATA_DIM,)), keras.layers.Dense(LATENT_DIM), decoder])
  model.compile(optimizer=keras.optimizers.Adam(0.05), loss='mse')
  return model, decoder


def _schedule():
  # β = 1 is a point: the Gaussian NLL's log-likelihood gets logged.
  return tfrd.build_schedule([0.5, 1.0, 2.0], tfrd.linear_betas(20, 2.0), 0, 0)


def _read_events(log_dir):
  """{tag: [(step, value, plugin_name)]} from the event files in log_dir."""
  paths = glob.glob(os.path.join(log_dir, 'events.out.tfevents.*'))
  assert paths, os.listdir(log_dir)
  events = {}
  for path in paths:
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        events.setdefault(value.tag, []).append(
            (event.step, tf.make_ndarray(value.tensor),
             value.metadata.plugin_data.plugin_name))
  return events


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """Two epochs of `fit` with two callbacks: every epoch and every second."""
  keras.utils.set_random_seed(0)
  model, decoder = _autoencoder()
  rng = np.random.default_rng(0)
  train = rng.uniform(size=(64, DATA_DIM)).astype(np.float32)
  data = train[:3]
  log_dir = str(tmp_path_factory.mktemp('rd_logs'))
  distortion = tfrd.GaussianNLL(0.5)
  chains = callbacks.default_callback_chains()._replace(seed=7)
  every_epoch = callbacks.RDCurveCallback(
      lambda trained_model: trained_model.layers[-1], data,
      latent_dim=LATENT_DIM, distortion=distortion, schedule=_schedule(),
      chains=chains, log_dir=log_dir)
  second_epoch = callbacks.RDCurveCallback(
      decoder, data, latent_dim=LATENT_DIM, schedule=_schedule(),
      chains=chains, every_n_epochs=2)
  model.fit(train, train, epochs=2, batch_size=16, verbose=0,
            callbacks=[every_epoch, second_epoch])
  return {'decoder': decoder, 'data': data, 'log_dir': log_dir,
          'every_epoch': every_epoch, 'second_epoch': second_epoch,
          'distortion': distortion}


def test_history_has_one_curve_per_evaluation(trained):
  history = trained['every_epoch'].history
  assert [epoch for epoch, _ in history] == [0, 1]
  for _, curve in history:
    assert isinstance(curve, tfrd.RDCurve)
    np.testing.assert_allclose(curve.betas, [0.5, 1.0, 2.0])
    assert np.all(np.isfinite(curve.rate))
    assert np.all(np.isfinite(curve.distortion))
    assert curve.is_nll and np.isfinite(curve.log_likelihood)
    assert curve.config['step_size_mode'] == 'adaptive'
  # Training moved the decoder, so the two curves differ.
  assert not np.allclose(history[0][1].distortion, history[1][1].distortion)
  second = trained['second_epoch'].history
  assert [epoch for epoch, _ in second] == [1]
  assert second[0][1].config['distortion'] == {'name': 'mse'}


def test_curve_is_of_the_decoder_at_that_epoch(trained):
  # With the same seed, AIS is deterministic: the curve of the last epoch is
  # the curve of the trained decoder.
  _, last = trained['every_epoch'].history[-1]
  again = tfrd.estimate_rd_curve(
      trained['decoder'], trained['data'], trained['distortion'], _schedule(),
      latent_dim=LATENT_DIM,
      chains=tfrd.ChainSettings(
          num_chains=4, seed=7, jit_compile=False,
          hmc=tfrd.HMCSettings(num_leapfrog_steps=2,
                               step_size_mode='adaptive')))
  np.testing.assert_allclose(again.rate_per_image, last.rate_per_image,
                             rtol=1e-12)
  np.testing.assert_allclose(again.distortion_per_image,
                             last.distortion_per_image, rtol=1e-12)


def test_event_file_has_the_summaries(trained):
  events = _read_events(trained['log_dir'])
  expected_scalars = {f'rd/{kind}@beta={beta}'
                      for kind in ('rate', 'distortion')
                      for beta in ('0.5', '1', '2')}
  expected_scalars.add('rd/log_likelihood')
  assert set(events) == expected_scalars | {'rd/curve'}
  history = dict(trained['every_epoch'].history)
  for tag in expected_scalars:
    assert [step for step, _, _ in events[tag]] == [0, 1]
    assert all(plugin == 'scalars' for _, _, plugin in events[tag])
  for step, curve in history.items():
    values = {tag: entries[step][1] for tag, entries in events.items()}
    np.testing.assert_allclose(values['rd/rate@beta=1'], curve.rate[1],
                               rtol=1e-6)
    np.testing.assert_allclose(values['rd/distortion@beta=2'],
                               curve.distortion[2], rtol=1e-6)
    np.testing.assert_allclose(values['rd/log_likelihood'],
                               curve.log_likelihood, rtol=1e-6)
  # The images plugin's layout: [width, height, PNG].
  assert [step for step, _, _ in events['rd/curve']] == [0, 1]
  for _, tensor, plugin in events['rd/curve']:
    assert plugin == 'images' and tensor.shape == (3,)
    image = tf.image.decode_png(tensor[2]).numpy()
    assert image.shape[1] == int(tensor[0]) and image.shape[0] == int(
        tensor[1])
    assert image.shape[2] in (3, 4) and image.std() > 0


def test_default_schedule_and_argument_checks():
  schedule = callbacks.default_callback_schedule()
  assert schedule.rd_betas.size == 6 and 1.0 in schedule.rd_betas.tolist()
  assert schedule.rd_betas[-1] == 100.0
  assert 750 <= schedule.num_transitions < 1000
  callback = callbacks.RDCurveCallback(lambda model: None, np.zeros((2, 4)),
                                       latent_dim=2)
  assert callback.schedule.num_transitions == schedule.num_transitions
  assert callback.chains == callbacks.default_callback_chains()
  assert callback.chains.num_chains == 4
  assert callback.chains.jit_compile is False
  assert callback.summary_writer is None
  with pytest.raises(ValueError, match='callable'):
    callback.get_decoder()
  with pytest.raises(ValueError, match='latent_dim'):
    callbacks.RDCurveCallback(lambda model: None, np.zeros((2, 4)))
  with pytest.raises(ValueError, match='every_n_epochs'):
    callbacks.RDCurveCallback(lambda model: None, np.zeros((2, 4)),
                              latent_dim=2, every_n_epochs=0)
  with pytest.raises(ValueError, match='adaptive'):
    callbacks.RDCurveCallback(
        lambda model: None, np.zeros((2, 4)), latent_dim=2,
        chains=tfrd.ChainSettings(
            hmc=tfrd.HMCSettings(step_size_mode='fixed')))
  assert callbacks.rate_tag(1 / 12) == 'rd/rate@beta=0.0833333'
