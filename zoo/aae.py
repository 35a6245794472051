"""Adversarial autoencoder (Makhzani et al., 2016).

A deterministic encoder z = E(x) and the decoder x̂ = f(z) are trained to
reconstruct (squared error, summed over pixels: tfrd's 'mse'), while a
discriminator on codes makes the aggregate posterior q(z) match the prior
p(z) = N(0, I). Each training step has the paper's three phases:

1. reconstruction: update E and f on Σ (x - f(E(x)))²;
2. regularization, discriminator: update D to tell p(z) samples (real) from
   E(x) (fake), non-saturating GAN loss;
3. regularization, generator: update E to fool D.

The decoder alone, fed p(z), is then a generative model whose curve tfrd
measures (Huang et al. compare AAEs with VAEs and GANs in §6).
"""

import keras
import tensorflow as tf

from zoo import base
from zoo import gan

__all__ = ['AAE']


class AAE(base.GenerativeModel):
  """Adversarial autoencoder with a Gaussian prior.

  Args:
    decoder: latents [B, D] -> images in [0, 1].
    encoder: images -> codes [B, D].
    latent_discriminator: codes [B, D] -> logits [B, 1].
    seed: noise seed.
    name: the model's name.
  """

  family = 'aae'

  def __init__(self, decoder, encoder, latent_discriminator, seed=0,
               name=None):
    super().__init__(decoder, seed=seed, name=name)
    self.encoder = encoder
    self.latent_discriminator = latent_discriminator

  def default_optimizers(self, learning_rate=None):
    return {
        'autoencoder': keras.optimizers.Adam(learning_rate or 1e-3),
        'discriminator': keras.optimizers.Adam(learning_rate or 2e-4,
                                               beta_1=0.5),
        'encoder': keras.optimizers.Adam(learning_rate or 2e-4, beta_1=0.5),
    }

  def optimizer_targets(self):
    return {
        'autoencoder': (self.encoder.trainable_variables +
                        self.decoder.trainable_variables),
        'discriminator': self.latent_discriminator.trainable_variables,
        'encoder': self.encoder.trainable_variables,
    }

  def train_step(self, data):
    images = base.unpack_images(data)
    batch_size = tf.shape(images)[0]
    autoencoder_variables = (self.encoder.trainable_variables +
                             self.decoder.trainable_variables)
    with tf.GradientTape() as tape:
      reconstruction = self.decoder(self.encoder(images, training=True),
                                    training=True)
      reconstruction_loss = tf.reduce_mean(
          base.squared_error(images, reconstruction))
    self._apply('autoencoder', tape, reconstruction_loss,
                autoencoder_variables)
    codes = self.encoder(images, training=True)
    with tf.GradientTape() as tape:
      discriminator_loss, _ = gan.non_saturating_losses(
          self.latent_discriminator(self.latent_noise(batch_size, 0),
                                    training=True),
          self.latent_discriminator(codes, training=True))
    self._apply('discriminator', tape, discriminator_loss,
                self.latent_discriminator.trainable_variables)
    with tf.GradientTape() as tape:
      logits = self.latent_discriminator(self.encoder(images, training=True),
                                         training=True)
      encoder_loss = tf.reduce_mean(tf.nn.softplus(-logits))
    self._apply('encoder', tape, encoder_loss,
                self.encoder.trainable_variables)
    return self._finish_step({'reconstruction': reconstruction_loss,
                              'd_loss': discriminator_loss,
                              'e_loss': encoder_loss})

  def hyperparameters(self):
    return {'reconstruction': 'squared error summed over pixels',
            'prior': 'standard normal', 'encoder': 'deterministic'}
