"""`RDCurveCallback`: rate-prior distortion curves during Keras 3 training.

A curve says more about a generative model than its training loss: where its
rate goes, whether it blurs or drops content (Huang et al. 2020, §6). This
callback estimates a cheap curve on a small fixed batch every few epochs and
writes it to TensorBoard event files, so one can watch the curve of a VAE or
GAN decoder move as it trains.

The summaries are written with `tf.summary.write` in TensorBoard's own
formats (the 'scalars' and 'images' plugins), so the event files read in
TensorBoard while tfrd does not need the `tensorboard` package, which
`tf.summary.scalar` and `tf.summary.image` require.

Keras is imported here, not by the rest of tfrd; with no backend chosen, it is
TensorFlow's.
"""

import io
import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

# pylint: disable=g-import-not-at-top,wrong-import-position
import keras
import numpy as np
import tensorflow as tf

from tfrd import api
from tfrd import distortions as distortions_lib
from tfrd import plotting
from tfrd import schedules
from tfrd import settings as settings_lib
# pylint: enable=g-import-not-at-top,wrong-import-position

__all__ = ['RDCurveCallback', 'default_callback_schedule',
           'default_callback_chains', 'rate_tag',
           'distortion_tag', 'LOG_LIKELIHOOD_TAG', 'CURVE_IMAGE_TAG']

LOG_LIKELIHOOD_TAG = 'rd/log_likelihood'
CURVE_IMAGE_TAG = 'rd/curve'

# TensorBoard's plugin names; their plugin data (version 0) serialize to b''.
_SCALARS_PLUGIN = 'scalars'
_IMAGES_PLUGIN = 'images'


def rate_tag(beta):
  """Summary tag of the rate at inverse temperature `beta`."""
  return f'rd/rate@beta={beta:g}'


def distortion_tag(beta):
  """Summary tag of the distortion at inverse temperature `beta`."""
  return f'rd/distortion@beta={beta:g}'


def default_callback_schedule():
  """A short schedule for curves during training.

  6 log-spaced RD points from β = 1/12 to 100 (β = 1 among them, the
  log-likelihood point of Prop. 2c) merged into a 750-step geometric base
  schedule, with at least 125 distributions before the first point and 5
  between points (appendix D.2's construction): under a thousand
  transitions of the default L = 2 (about 1,700 decoder gradients per
  chain), cheap enough to run every epoch on a small batch, and far too short for
  the tight estimates one would report (see `tfrd.estimate_rd_curve`).

  Returns:
    An `AnnealingSchedule`.
  """
  return schedules.build_schedule(
      schedules.rd_point_betas(6, 100.0),
      schedules.geometric_betas(750, 100.0, 1.0 / 12.0), 125, 5)


def default_callback_chains():
  """The chains of curves during training: few, one adapting pass, no XLA.

  4 chains per image, the default L = 2 with `step_size_mode='adaptive'`
  (one adapting pass: half the cost of two passes, and the point of a
  cheap in-training estimate), seed 0, graph mode (`jit_compile=False`):
  every evaluation builds a new AIS loop, so XLA would compile it again each
  time, and for the short in-training schedule compiling costs more than it
  saves (on 2 CPU cores, an MLP decoder and the default schedule: 21 s with
  XLA against 6 s in graph mode). True or 'auto' may pay off with long
  schedules on accelerators. Change fields with `_replace`.

  Returns:
    A `tfrd.ChainSettings`.
  """
  return settings_lib.ChainSettings(
      num_chains=4, jit_compile=False,
      hmc=settings_lib.HMCSettings(step_size_mode='adaptive'))


def _plugin_metadata(plugin_name):
  return tf.compat.v1.SummaryMetadata(
      plugin_data=tf.compat.v1.SummaryMetadata.PluginData(
          plugin_name=plugin_name))


def _write_scalar(tag, value, step):
  """What `tf.summary.scalar` writes: a float32 scalar, scalars plugin."""
  tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step,
                   metadata=_plugin_metadata(_SCALARS_PLUGIN))


def _write_png(tag, png, step):
  """What `tf.summary.image` writes for one image, from PNG bytes.

  The images plugin stores a string vector [width, height, png, ...]. The PNG
  is decoded once to read its size (and to refuse a broken buffer here rather
  than in TensorBoard).
  """
  height, width = tf.image.decode_png(png).shape[:2]
  tf.summary.write(tag, tf.constant([str(width), str(height), png]), step=step,
                   metadata=_plugin_metadata(_IMAGES_PLUGIN))


def _render_curve_png(curve, title):
  """The curve plotted by `tfrd.plotting.plot_curves` as PNG bytes."""
  buffer = io.BytesIO()
  plotting.plot_curves({'AIS': curve}, buffer, title=title)
  return buffer.getvalue()


class RDCurveCallback(keras.callbacks.Callback):
  """Estimates the rate-prior distortion curve of a decoder during training.

  Every `every_n_epochs` epochs, on the epoch's end, runs
  `tfrd.estimate_rd_curve` (AIS with HMC, one adapting pass:
  step_size_mode='adaptive') on the fixed batch `data` and

  - appends `(epoch, curve)` to `self.history`;
  - if `log_dir` is given, writes TensorBoard summaries at step `epoch`:
    scalars `rd/rate@beta=B` and `rd/distortion@beta=B` for every RD point
    (B formatted with '%g'), `rd/log_likelihood` for an NLL distortion (log
    p(x) = -(R_1 + D_1), Prop. 2c; a stochastic lower bound, loose with
    the short default schedule), and the plotted curve as image `rd/curve`.

  The same seed (`chains.seed`) is used at every evaluation, so successive
  curves share their random numbers and their differences show the model's
  change rather than Monte Carlo noise.

  Example:

      vae.fit(train_images, epochs=20, callbacks=[tfrd.RDCurveCallback(
          decoder=lambda model: model.decoder, data=test_images[:16],
          latent_dim=10, log_dir='logs/rd', every_n_epochs=5)])

  Args:
    decoder: the decoder, as a Keras model (latents [B, D] -> outputs), or a
      callable that returns it given the model being trained, e.g.
      `lambda model: model.decoder`. Any other callable is taken as such a
      getter, not as the decoder itself.
    data: a small batch of data [N, ...] (a few images: every evaluation runs
      N × num_chains chains).
    latent_dim: D, for the standard normal prior (or give `prior`).
    distortion: a `Distortion` or its name (see `tfrd.get_distortion`).
    schedule: an `AnnealingSchedule`; `default_callback_schedule()` if None.
    chains: a `tfrd.ChainSettings` of every evaluation (chains per image,
      seed, HMC settings, XLA, decoder dtype); `default_callback_chains()`
      (4 chains, one adapting pass, graph mode) if None. Its
      `hmc.step_size_mode` must be 'adaptive'.
    prior: TFP distribution with event shape [D]; standard normal of size
      `latent_dim` if None.
    every_n_epochs: evaluate after epochs every_n_epochs - 1,
      2·every_n_epochs - 1, ... (0-based epoch numbers, as Keras passes them).
    log_dir: directory for a `tf.summary` file writer, or None for no
      summaries (only `history`).
    plot: whether to write the plotted curve as an image summary.

  Attributes:
    chains: the `tfrd.ChainSettings` of every evaluation.
    history: list of (epoch, `RDCurve`) pairs, one per evaluation.
    summary_writer: the `tf.summary` writer, or None.

  Raises:
    ValueError: for invalid arguments, or if Keras does not run on
      TensorFlow.
  """

  def __init__(self, decoder, data, latent_dim=None, distortion='mse',
               schedule=None, chains=None, prior=None, every_n_epochs=1,
               log_dir=None, plot=True):
    super().__init__()
    if keras.backend.backend() != 'tensorflow':
      # AIS runs TensorFlow graphs through the decoder.
      raise ValueError(
          f'RDCurveCallback needs the TensorFlow backend of Keras, but Keras '
          f'runs on {keras.backend.backend()!r}.')
    if not callable(decoder):
      raise ValueError(f'decoder must be a Keras model or a callable '
                       f'returning one, got {decoder!r}.')
    if int(every_n_epochs) != every_n_epochs or every_n_epochs < 1:
      raise ValueError(f'every_n_epochs must be a positive integer, got '
                       f'{every_n_epochs!r}.')
    if latent_dim is None and prior is None:
      raise ValueError('Give latent_dim (or a prior).')
    chains = default_callback_chains() if chains is None else chains
    if chains.hmc.step_size_mode != 'adaptive':
      # One adapting pass is the point of a cheap in-training estimate.
      raise ValueError(
          f"RDCurveCallback always uses step_size_mode='adaptive', got "
          f'{chains.hmc.step_size_mode!r}; e.g. chains='
          f'default_callback_chains()._replace(num_chains=...).')
    self._decoder = decoder
    self.data = np.asarray(data)
    self.latent_dim = latent_dim
    self.distortion = distortions_lib.get_distortion(distortion)
    self.schedule = (default_callback_schedule() if schedule is None
                     else schedule)
    self.chains = chains
    self.prior = prior
    self.every_n_epochs = int(every_n_epochs)
    self.log_dir = log_dir
    self.plot = bool(plot)
    self.history = []
    self.summary_writer = (None if log_dir is None else
                           tf.summary.create_file_writer(str(log_dir)))

  def get_decoder(self):
    """The decoder to evaluate now (resolved through the trained model)."""
    if isinstance(self._decoder, keras.layers.Layer):
      return self._decoder
    decoder = self._decoder(self.model)
    if not callable(decoder):
      raise ValueError(f'The decoder getter returned {decoder!r}, which is '
                       f'not callable.')
    return decoder

  def estimate(self):
    """Runs AIS on the current decoder and returns the `RDCurve`."""
    return api.estimate_rd_curve(
        self.get_decoder(), self.data, self.distortion, self.schedule,
        latent_dim=self.latent_dim, prior=self.prior, chains=self.chains)

  def on_epoch_end(self, epoch, logs=None):
    if (epoch + 1) % self.every_n_epochs:
      return
    curve = self.estimate()
    self.history.append((epoch, curve))
    if self.summary_writer is not None:
      self._write_summaries(epoch, curve)

  def on_train_end(self, logs=None):
    if self.summary_writer is not None:
      self.summary_writer.flush()

  def _write_summaries(self, epoch, curve):
    with self.summary_writer.as_default():
      for beta, rate, distortion in zip(curve.betas, curve.rate,
                                        curve.distortion):
        _write_scalar(rate_tag(beta), rate, epoch)
        _write_scalar(distortion_tag(beta), distortion, epoch)
      if curve.log_likelihood is not None:
        _write_scalar(LOG_LIKELIHOOD_TAG, curve.log_likelihood, epoch)
      if self.plot:
        _write_png(CURVE_IMAGE_TAG,
                   _render_curve_png(curve, f'epoch {epoch}'), epoch)
    self.summary_writer.flush()
