"""Wasserstein GANs: weight clipping (WGAN) and gradient penalty (WGAN-GP).

Both train a critic f toward the Kantorovich–Rubinstein dual of the
Wasserstein-1 distance,

    W(P_data, P_G) = max_{||f||_L ≤ 1} E f(x) - E f(G(z)),

with `num_critic` critic steps per generator step; the generator minimizes
-E f(G(z)). They differ in how f is kept Lipschitz:

- `WGAN` (Arjovsky et al., 2017): every critic weight is clipped to [-c, c]
  after each critic update (c = 0.01), with RMSProp (learning rate 5e-5).
- `WGANGP` (Gulrajani et al., 2017): the critic loss gets
  λ E (||∇f(x̂)||₂ - 1)² at random points x̂ = εx + (1 - ε)G(z) on lines
  between data and samples (λ = 10), with Adam (1e-4, β1 = 0, β2 = 0.9).

Each critic step draws fresh codes (and ε) but reuses the step's batch of
data, as Keras's WGAN-GP example does; an epoch is thus one pass of the data
through the generator steps.
"""

import tensorflow as tf

from zoo import base

__all__ = ['WGAN', 'WGANGP']


class _WassersteinGAN(base.GenerativeModel):
  """Shared critic/generator loop; subclasses add the Lipschitz constraint."""

  def __init__(self, decoder, critic, num_critic=5, seed=0, name=None):
    super().__init__(decoder, seed=seed, name=name)
    self.critic = critic
    self.num_critic = int(num_critic)
    if self.num_critic < 1:
      raise ValueError(f'num_critic must be at least 1, got {num_critic}.')

  def optimizer_targets(self):
    return {'generator': self.decoder.trainable_variables,
            'critic': self.critic.trainable_variables}

  def _penalty(self, images, fakes, salt):
    """The critic loss's Lipschitz term (0 for weight clipping)."""
    del images, fakes, salt
    return tf.constant(0.0)

  def _after_critic_update(self):
    pass

  def train_step(self, data):
    images = base.unpack_images(data)
    batch_size = tf.shape(images)[0]
    variables = self.critic.trainable_variables
    for index in range(self.num_critic):
      # Salts 0..num_critic-1 for the codes, the next ones for ε.
      fakes = self.decoder(self.latent_noise(batch_size, index),
                           training=True)
      with tf.GradientTape() as tape:
        distance = (tf.reduce_mean(self.critic(images, training=True)) -
                    tf.reduce_mean(self.critic(fakes, training=True)))
        penalty = self._penalty(images, fakes, self.num_critic + index)
        critic_loss = -distance + penalty
      self._apply('critic', tape, critic_loss, variables)
      self._after_critic_update()
    with tf.GradientTape() as tape:
      fakes = self.decoder(
          self.latent_noise(batch_size, 2 * self.num_critic), training=True)
      generator_loss = -tf.reduce_mean(self.critic(fakes, training=True))
    self._apply('generator', tape, generator_loss,
                self.decoder.trainable_variables)
    return self._finish_step({'critic_loss': critic_loss,
                              'g_loss': generator_loss,
                              'w_distance': distance, 'penalty': penalty})


class WGAN(_WassersteinGAN):
  """WGAN with weight clipping (Arjovsky et al., 2017, Algorithm 1).

  Args:
    decoder: the generator.
    critic: images -> scores [B, 1].
    clip_value: c; critic weights are kept in [-c, c].
    num_critic: critic steps per generator step.
    seed: noise seed.
    name: the model's name.
  """

  family = 'wgan'
  # Momentum-based optimizers made the clipped critic unstable in the WGAN
  # paper, hence RMSProp.
  RECIPE = {
      name: base.OptimizerRecipe(
          'rmsprop', 5e-5,
          source='WGAN (Arjovsky et al., 2017), Algorithm 1: RMSProp, '
                 'learning rate 5e-5')
      for name in ('generator', 'critic')}

  def __init__(self, decoder, critic, clip_value=0.01, num_critic=5, seed=0,
               name=None):
    super().__init__(decoder, critic, num_critic=num_critic, seed=seed,
                     name=name)
    self.clip_value = float(clip_value)

  def _after_critic_update(self):
    for variable in self.critic.trainable_variables:
      variable.assign(tf.clip_by_value(variable, -self.clip_value,
                                       self.clip_value))

  def hyperparameters(self):
    return {'clip_value': self.clip_value, 'num_critic': self.num_critic}


class WGANGP(_WassersteinGAN):
  """WGAN with gradient penalty (Gulrajani et al., 2017, Algorithm 1).

  Args:
    decoder: the generator.
    critic: images -> scores [B, 1]; without batch normalization (the
      penalty is per example).
    penalty_weight: λ.
    num_critic: critic steps per generator step.
    seed: noise seed.
    name: the model's name.
  """

  family = 'wgan_gp'
  RECIPE = {
      name: base.OptimizerRecipe(
          'adam', 1e-4, beta_1=0.0, beta_2=0.9,
          source='WGAN-GP (Gulrajani et al., 2017), Algorithm 1: Adam '
                 '1e-4, beta_1 0, beta_2 0.9; Huang et al. D.1 trains its '
                 'MNIST GANs with a gradient penalty')
      for name in ('generator', 'critic')}

  def __init__(self, decoder, critic, penalty_weight=10.0, num_critic=5,
               seed=0, name=None):
    super().__init__(decoder, critic, num_critic=num_critic, seed=seed,
                     name=name)
    self.penalty_weight = float(penalty_weight)

  def gradient_penalty(self, images, fakes, seed):
    """E (||∇f(x̂)||₂ - 1)² at x̂ = εx + (1 - ε)x̃, ε ~ U[0, 1] per image."""
    batch_size = tf.shape(images)[0]
    epsilon = tf.random.stateless_uniform([batch_size, 1, 1, 1], seed)
    mixed = epsilon * images + (1.0 - epsilon) * fakes
    with tf.GradientTape() as tape:
      tape.watch(mixed)
      scores = self.critic(mixed, training=True)
    gradients = tf.reshape(tape.gradient(scores, mixed), [batch_size, -1])
    # The small constant keeps the norm's gradient finite at zero.
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=-1) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))

  def _penalty(self, images, fakes, salt):
    return self.penalty_weight * self.gradient_penalty(images, fakes,
                                                       self._seed(salt))

  def hyperparameters(self):
    return {'penalty_weight': self.penalty_weight,
            'num_critic': self.num_critic}
