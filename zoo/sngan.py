"""SN-GAN: spectrally normalized discriminator, hinge loss (Miyato et al.).

Every Dense / Conv2D kernel W of the discriminator is divided by its largest
singular value σ(W), estimated by power iteration with one step per training
call (`zoo.spectral_norm`, which keeps the iterate u between calls and in
checkpoints; gradients flow through W / σ(W)):

    v ← Wᵀu / ||Wᵀu||,   u ← Wv / ||Wv||,   σ(W) ≈ uᵀWv,   W_SN = W / σ(W).

A network of such layers and 1-Lipschitz activations is 1-Lipschitz
(||g₁ ∘ g₂||_L ≤ ||g₁||_L ||g₂||_L). The losses are the hinge losses of
Miyato et al.: E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))) for D and
-E D(G(z)) for G.
"""

import tensorflow as tf

from zoo import base
from zoo import spectral_norm

__all__ = ['SNGAN', 'hinge_losses']


def hinge_losses(real_scores, fake_scores):
  """(discriminator loss, generator loss) of the hinge GAN."""
  discriminator_loss = (tf.reduce_mean(tf.nn.relu(1.0 - real_scores)) +
                        tf.reduce_mean(tf.nn.relu(1.0 + fake_scores)))
  return discriminator_loss, -tf.reduce_mean(fake_scores)


class SNGAN(base.GenerativeModel):
  """GAN with a spectrally normalized discriminator and hinge loss.

  Args:
    decoder: the generator.
    discriminator: images -> scores [B, 1], built with spectral
      normalization (`zoo.architectures.discriminator(...,
      spectral_norm=True)`).
    num_critic: discriminator steps per generator step.
    seed: noise seed.
    name: the model's name.
  """

  family = 'sngan'
  RECIPE = {
      name: base.OptimizerRecipe(
          'adam', 2e-4, beta_1=0.5, beta_2=0.999,
          source='Miyato et al. (2018): their setting for one '
                 'discriminator step per generator step')
      for name in ('generator', 'discriminator')}

  def __init__(self, decoder, discriminator, num_critic=1, seed=0,
               name=None):
    super().__init__(decoder, seed=seed, name=name)
    self.discriminator = discriminator
    self.num_critic = int(num_critic)
    if not any(isinstance(layer, (spectral_norm.SpectralNormDense,
                                  spectral_norm.SpectralNormConv2D))
               for layer in discriminator.layers):
      raise ValueError('The SN-GAN discriminator has no spectrally '
                       'normalized layer; build it with '
                       'zoo.architectures.discriminator(..., '
                       'spectral_norm=True).')

  def optimizer_targets(self):
    return {'generator': self.decoder.trainable_variables,
            'discriminator': self.discriminator.trainable_variables}

  def train_step(self, data):
    images = base.unpack_images(data)
    batch_size = tf.shape(images)[0]
    for index in range(self.num_critic):
      fakes = self.decoder(self.latent_noise(batch_size, index),
                           training=True)
      with tf.GradientTape() as tape:
        # One call on data and samples together, so that each discriminator
        # update takes exactly one power-iteration step (training=True).
        scores = self.discriminator(tf.concat([images, fakes], 0),
                                    training=True)
        discriminator_loss, _ = hinge_losses(scores[:batch_size],
                                             scores[batch_size:])
      self._apply('discriminator', tape, discriminator_loss,
                  self.discriminator.trainable_variables)
    with tf.GradientTape() as tape:
      fake_scores = self.discriminator(
          self.decoder(self.latent_noise(batch_size, self.num_critic),
                       training=True), training=False)
      generator_loss = -tf.reduce_mean(fake_scores)
    self._apply('generator', tape, generator_loss,
                self.decoder.trainable_variables)
    return self._finish_step({'d_loss': discriminator_loss,
                              'g_loss': generator_loss})

  def hyperparameters(self):
    return {'loss': 'hinge', 'num_critic': self.num_critic,
            'spectral_norm_power_iterations': 1}
