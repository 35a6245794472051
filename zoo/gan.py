"""GAN with the non-saturating generator loss (Goodfellow et al., 2014).

The discriminator D (logits) maximizes E log σ(D(x)) + E log(1 - σ(D(G(z))));
the generator minimizes -E log σ(D(G(z))) rather than E log(1 - σ(D(G(z)))),
whose gradient vanishes while D rejects the samples confidently. With Adam
(learning rate 2e-4, β1 = 0.5) this is DCGAN's recipe (Radford et al., 2015).

Optionally the discriminator loss gets the R1 gradient penalty on data
(Mescheder et al., 2018), (γ/2) E_data ||∇_x D(x)||². Huang et al. trained
their MNIST GANs with a gradient penalty (appendix D.1); on the MLP networks
it removes the salt-and-pepper speckle a plain GAN leaves in the background
after a few epochs, so the pretrained GAN uses γ = 10.
"""

import tensorflow as tf

from zoo import base

__all__ = ['GAN', 'non_saturating_losses']


def non_saturating_losses(real_logits, fake_logits):
  """(discriminator loss, generator loss) of the non-saturating GAN.

  -log σ(a) = softplus(-a) and -log(1 - σ(a)) = softplus(a), computed
  without forming σ, so saturated logits give finite losses and gradients.
  """
  discriminator_loss = (tf.reduce_mean(tf.nn.softplus(-real_logits)) +
                        tf.reduce_mean(tf.nn.softplus(fake_logits)))
  generator_loss = tf.reduce_mean(tf.nn.softplus(-fake_logits))
  return discriminator_loss, generator_loss


class GAN(base.GenerativeModel):
  """Non-saturating GAN: one discriminator step, then one generator step.

  Args:
    decoder: the generator, latents [B, D] -> images [B, H, W, C] in [0, 1].
    discriminator: images -> logits [B, 1].
    r1_weight: γ of the R1 penalty on data; 0 (the default) for none.
    seed: noise seed.
    name: the model's name.
  """

  family = 'gan'
  RECIPE = {
      name: base.OptimizerRecipe(
          'adam', 2e-4, beta_1=0.5,
          source='DCGAN (Radford et al., 2015); Huang et al. D.1 gives '
                 'none for its GANs')
      for name in ('generator', 'discriminator')}

  def __init__(self, decoder, discriminator, r1_weight=0.0, seed=0,
               name=None):
    super().__init__(decoder, seed=seed, name=name)
    self.discriminator = discriminator
    self.r1_weight = float(r1_weight)
    if self.r1_weight < 0:
      raise ValueError(f'r1_weight must be non-negative, got {r1_weight}.')

  def optimizer_targets(self):
    return {'generator': self.decoder.trainable_variables,
            'discriminator': self.discriminator.trainable_variables}

  def train_step(self, data):
    images = base.unpack_images(data)
    batch_size = tf.shape(images)[0]
    fakes = self.decoder(self.latent_noise(batch_size, 0), training=True)
    with tf.GradientTape() as tape:
      if self.r1_weight:
        with tf.GradientTape() as data_tape:
          data_tape.watch(images)
          real_logits = self.discriminator(images, training=True)
        gradients = data_tape.gradient(real_logits, images)
        penalty = 0.5 * self.r1_weight * tf.reduce_mean(tf.reduce_sum(
            tf.square(tf.reshape(gradients, [batch_size, -1])), axis=-1))
      else:
        real_logits = self.discriminator(images, training=True)
        penalty = tf.constant(0.0)
      discriminator_loss, _ = non_saturating_losses(
          real_logits, self.discriminator(fakes, training=True))
      discriminator_loss += penalty
    self._apply('discriminator', tape, discriminator_loss,
                self.discriminator.trainable_variables)
    with tf.GradientTape() as tape:
      fake_logits = self.discriminator(
          self.decoder(self.latent_noise(batch_size, 1), training=True),
          training=True)
      generator_loss = tf.reduce_mean(tf.nn.softplus(-fake_logits))
    self._apply('generator', tape, generator_loss,
                self.decoder.trainable_variables)
    logs = {'d_loss': discriminator_loss, 'g_loss': generator_loss}
    if self.r1_weight:
      logs['r1_penalty'] = penalty
    return self._finish_step(logs)

  def hyperparameters(self):
    return {'loss': 'non-saturating', 'r1_weight': self.r1_weight}
