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

The optimizers (`AAE.RECIPE`). Huang et al.'s appendix D.1 gives no recipe
for its AAEs; the adversarial phases use DCGAN's Adam 2e-4 (beta_1 0.5),
and the reconstruction phase D.1's Adam 1e-4 (the rate of its VAEs).
Why not faster: with the reconstruction phase at 1e-3, it moved the
encoder five times further per step than the adversarial phase could pull
it back, and the discriminator won. At 5 epochs on 10,000 MNIST images
(width 1024, code 10) its loss fell from 0.47 to 0.005 while the encoder's
adversarial loss rose from 5.9 to 15.6, and the codes spread to a standard
deviation of about 7 where the prior's is 1; at 1e-4 both losses stay near
their equilibrium (2 log 2 and log 2) and the codes' moments near the
prior's. `tests/test_aae.py` trains a few hundred steps and checks both.
"""

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
  # The optimizers of the three phases (module docstring).
  RECIPE = {
      'autoencoder': base.OptimizerRecipe(
          'adam', 1e-4,
          source='Huang et al. (2020) D.1: Adam 1e-4, the rate of its VAEs '
                 '(D.1 gives none for AAEs); faster, the adversary wins '
                 '(zoo/aae.py)'),
      'discriminator': base.OptimizerRecipe(
          'adam', 2e-4, beta_1=0.5, source='DCGAN (Radford et al., 2015)'),
      'encoder': base.OptimizerRecipe(
          'adam', 2e-4, beta_1=0.5, source='DCGAN (Radford et al., 2015)'),
  }

  def __init__(self, decoder, encoder, latent_discriminator, seed=0,
               name=None):
    super().__init__(decoder, seed=seed, name=name)
    self.encoder = encoder
    self.latent_discriminator = latent_discriminator

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
