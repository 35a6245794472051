"""`GenerativeModel`: what every model of the zoo has in common.

A zoo model is a `keras.Model` that owns a decoder (generator) from a
standard normal code z ~ N(0, I) to images, the networks that train it
(encoder, discriminator, critic), one Keras optimizer per network group, and
a custom `train_step`. It trains with `model.fit` like any Keras model, or
step by step from `zoo.training.Trainer`, which checkpoints and resumes it
exactly.

Randomness inside `train_step` is *stateless*: the noise of step t is a
function of (seed, t, purpose), with t the model's own `train_steps`
counter. That counter is a variable, so it is saved in checkpoints with the
weights and optimizer slots, and a resumed run draws the same noise as an
uninterrupted one. (Keras's `SeedGenerator` state is not restored by
`tf.train.Checkpoint`, so it cannot give that guarantee.)
"""

import collections
import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import keras  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = ['GenerativeModel', 'OptimizerRecipe', 'squared_error',
           'unpack_images']

# Distinct noise streams per training step: salts 0..._NUM_SALTS-1.
_NUM_SALTS = 64


def unpack_images(data):
  """The images of a batch given to `train_step` (`fit` may wrap them)."""
  while isinstance(data, (tuple, list)):
    data = data[0]
  return data


def squared_error(x, x_hat):
  """Σ over pixels of (x - x̂)², one value per image (tfrd's 'mse')."""
  difference = tf.reshape(x - x_hat, [tf.shape(x)[0], -1])
  return tf.reduce_sum(tf.square(difference), axis=-1)


class OptimizerRecipe(
    collections.namedtuple('OptimizerRecipe', [
        'optimizer', 'learning_rate', 'beta_1', 'beta_2', 'source'])):
  """One optimizer of a family's training recipe, and where it comes from.

  Attributes:
    optimizer: 'adam' or 'rmsprop'.
    learning_rate: its learning rate.
    beta_1, beta_2: Adam's moment decays (None for RMSProp).
    source: the paper (and its section) the choice follows, or why it
      departs from one; it is written into every model's metadata.
  """
  __slots__ = ()

  def __new__(cls, optimizer, learning_rate, beta_1=None, beta_2=None,
              source=''):
    if optimizer not in ('adam', 'rmsprop'):
      raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got "
                       f'{optimizer!r}.')
    if optimizer == 'adam':
      beta_1 = 0.9 if beta_1 is None else beta_1
      beta_2 = 0.999 if beta_2 is None else beta_2
    if not source:
      raise ValueError('Every recipe entry names its source.')
    return super().__new__(cls, optimizer, learning_rate, beta_1, beta_2,
                           source)

  def build(self, learning_rate=None):
    """A fresh Keras optimizer; `learning_rate` replaces the recipe's."""
    if self.optimizer == 'rmsprop':
      return keras.optimizers.RMSprop(learning_rate or self.learning_rate)
    return keras.optimizers.Adam(learning_rate or self.learning_rate,
                                 beta_1=self.beta_1, beta_2=self.beta_2)

  def settings(self):
    """What defines the optimizer (the source left out), for cache keys."""
    return {key: value for key, value in self._asdict().items()
            if key != 'source' and value is not None}


class GenerativeModel(keras.Model):
  """Base class: a decoder from N(0, I) codes, optimizers and a train step.

  Subclasses set `family` and `RECIPE` (optimizer name ->
  `OptimizerRecipe`, each with its source), build their networks in
  `__init__` (calling this constructor first), and define
  `optimizer_targets` and `train_step`.

  Args:
    decoder: Keras model, latents [B, D] -> images [B, H, W, C] in [0, 1].
    seed: integer seed of the noise drawn in `train_step`.
    name: the model's name.

  Attributes:
    decoder: the decoder; `decoder.save(path)` exports it for tfrd.
    latent_dim: D.
    image_shape: (H, W, C).
    seed: the seed.
    train_steps: int64 variable, training steps taken (part of every
      checkpoint).
  """

  family = None
  RECIPE = {}

  def __init__(self, decoder, seed=0, name=None):
    super().__init__(name=name or self.family)
    self.decoder = decoder
    self.seed = int(seed)
    self.train_steps = self.add_weight(
        shape=(), dtype='int64', initializer='zeros', trainable=False,
        name='train_steps')
    self._optimizers = {}

  @property
  def latent_dim(self):
    return int(self.decoder.inputs[0].shape[-1])

  @property
  def image_shape(self):
    return tuple(int(d) for d in self.decoder.outputs[0].shape[1:])

  def call(self, latents, training=False):
    return self.decoder(latents, training=training)

  # Optimizers.

  def recipe(self):
    """dict optimizer name -> `OptimizerRecipe` of this model's training."""
    return dict(self.RECIPE)

  def recipe_record(self):
    """The recipe with its sources, JSON-serializable, for the metadata."""
    return {name: entry._asdict() for name, entry in self.recipe().items()}

  def default_optimizers(self, learning_rate=None):
    """Fresh optimizers of the family's recipe, by name.

    Args:
      learning_rate: replaces every recipe learning rate if given.

    Returns:
      dict name -> `keras.optimizers.Optimizer`.
    """
    return {name: entry.build(learning_rate)
            for name, entry in self.recipe().items()}

  def optimizer_targets(self):
    """dict optimizer name -> the list of variables it updates."""
    raise NotImplementedError

  def compile(self, learning_rate=None, **optimizers):  # pylint: disable=arguments-differ
    """Chooses the optimizers: the family's recipe, or those given by name.

    Args:
      learning_rate: replaces the recipe's learning rates.
      **optimizers: optimizers to use instead of the recipe's, by the names
        of `default_optimizers` (e.g. generator=..., discriminator=...).

    Raises:
      ValueError: for an optimizer name the family does not have.
    """
    chosen = self.default_optimizers(learning_rate)
    unknown = sorted(set(optimizers) - set(chosen))
    if unknown:
      raise ValueError(f'{type(self).__name__} has optimizers '
                       f'{sorted(chosen)}, not {unknown}.')
    chosen.update(optimizers)
    # The base compile sets no loss or optimizer: the train step brings its
    # own losses and optimizers, and `fit` then only runs it.
    super().compile()
    self._optimizers = chosen
    for name, optimizer in chosen.items():
      setattr(self, f'{name}_optimizer', optimizer)

  @property
  def optimizers(self):
    """dict name -> optimizer, as chosen by `compile`."""
    if not self._optimizers:
      raise ValueError(f'Compile the {type(self).__name__} before training '
                       f'it (model.compile()).')
    return dict(self._optimizers)

  def build_optimizers(self):
    """Creates the optimizers' slot variables now.

    Checkpoints restore into existing variables, so this must run before a
    restore; it also keeps variable creation out of the traced train step.
    """
    targets = self.optimizer_targets()
    for name, optimizer in self.optimizers.items():
      if not optimizer.built:
        optimizer.build(targets[name])

  def _apply(self, name, tape, loss, variables):
    """One update of `variables` by optimizer `name` from `tape`'s `loss`."""
    gradients = tape.gradient(loss, variables)
    self._optimizers[name].apply_gradients(zip(gradients, variables))

  # Noise.

  def _seed(self, salt):
    """Stateless seed of noise stream `salt` at the current training step."""
    if not 0 <= salt < _NUM_SALTS:
      raise ValueError(f'salt must be in [0, {_NUM_SALTS}), got {salt}.')
    step = tf.convert_to_tensor(self.train_steps)
    return tf.stack([tf.constant(self.seed, tf.int64),
                     step * _NUM_SALTS + salt])

  def latent_noise(self, batch_size, salt):
    """Codes z ~ N(0, I) [batch_size, D] of stream `salt` at this step."""
    return tf.random.stateless_normal([batch_size, self.latent_dim],
                                      self._seed(salt))

  def _finish_step(self, logs):
    """Counts the step; returns the logs as float32 scalars."""
    self.train_steps.assign_add(1)
    return {name: tf.cast(value, tf.float32) for name, value in logs.items()}

  # Using the trained model.

  def sample(self, num_samples, seed=0, batch_size=256):
    """Decodes `num_samples` codes of N(0, I) drawn with `seed`, in inference.

    Returns:
      float32 array [num_samples, H, W, C] in [0, 1].
    """
    latents = np.random.default_rng(seed).standard_normal(
        (num_samples, self.latent_dim)).astype(np.float32)
    batches = [np.asarray(self.decoder(latents[i:i + batch_size],
                                       training=False))
               for i in range(0, num_samples, batch_size)]
    return np.concatenate(batches)

  def hyperparameters(self):
    """JSON-serializable settings of the family, for the metadata sidecar."""
    return {}

  def exported_models(self):
    """Models saved beside the decoder, by file suffix (e.g. 'critics')."""
    return {}

  def export_metadata(self):
    """Family-specific metadata entries of the exported decoder."""
    return {}
