"""Wasserstein autoencoder (Tolstikhin et al., 2018), MMD or GAN penalty.

A deterministic encoder z = E(x) and the decoder minimize

    E Σ (x - f(E(x)))²  +  λ · 𝒟(q(z), p(z)),

the reconstruction cost (squared error summed over pixels, tfrd's 'mse')
plus a divergence between the aggregate posterior and p(z) = N(0, I):

- 'mmd': the unbiased estimate of MMD² with the inverse multiquadratic
  kernel k(a, b) = Σ_s C_s / (C_s + ||a - b||²), C_s = 2·D·s for scales
  s ∈ {0.1, 0.2, 0.5, 1, 2, 5, 10} (the WAE paper's kernel and scales);
- 'gan': a discriminator on codes, trained with the non-saturating GAN loss,
  and the encoder penalized by -E log σ(D(E(x))).

λ = 10 as in the paper's MNIST experiments. Husain et al. (2019) show that
this objective and the f-GAN objective are dual to each other under some
assumptions; `docs/zoo.md` says more.
"""

import tensorflow as tf

from zoo import base
from zoo import gan

__all__ = ['PENALTIES', 'WAE', 'imq_mmd']

PENALTIES = ('mmd', 'gan')
_IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def imq_mmd(samples_p, samples_q):
  """Unbiased MMD² between two equal-size batches, IMQ kernel of the WAE.

  Args:
    samples_p: [N, D] samples of p(z).
    samples_q: [N, D] codes.

  Returns:
    Scalar estimate of MMD²(p, q) (can be slightly negative).
  """
  n = tf.cast(tf.shape(samples_p)[0], samples_p.dtype)
  latent_dim = tf.cast(tf.shape(samples_p)[1], samples_p.dtype)

  def squared_distances(a, b):
    return tf.maximum(
        tf.reduce_sum(tf.square(a), 1)[:, None] +
        tf.reduce_sum(tf.square(b), 1)[None, :] -
        2.0 * tf.matmul(a, b, transpose_b=True), 0.0)

  distances_pp = squared_distances(samples_p, samples_p)
  distances_qq = squared_distances(samples_q, samples_q)
  distances_pq = squared_distances(samples_p, samples_q)
  off_diagonal = 1.0 - tf.eye(tf.shape(samples_p)[0], dtype=samples_p.dtype)
  total = 0.0
  for scale in _IMQ_SCALES:
    c = 2.0 * latent_dim * scale
    kernel_pp = c / (c + distances_pp)
    kernel_qq = c / (c + distances_qq)
    kernel_pq = c / (c + distances_pq)
    total += (tf.reduce_sum(kernel_pp * off_diagonal) / (n * (n - 1)) +
              tf.reduce_sum(kernel_qq * off_diagonal) / (n * (n - 1)) -
              2.0 * tf.reduce_mean(kernel_pq))
  return total


class WAE(base.GenerativeModel):
  """Wasserstein autoencoder with an MMD or a GAN penalty on the codes.

  Args:
    decoder: latents [B, D] -> images in [0, 1].
    encoder: images -> codes [B, D].
    penalty: 'mmd' or 'gan'.
    latent_discriminator: codes -> logits, required for 'gan'.
    penalty_weight: λ.
    seed: noise seed.
    name: the model's name.

  Raises:
    ValueError: for an unknown penalty, or 'gan' without a discriminator.
  """

  family = 'wae'
  RECIPE = {
      'autoencoder': base.OptimizerRecipe(
          'adam', 1e-3, beta_1=0.5,
          source='WAE (Tolstikhin et al., 2018), MNIST: Adam 1e-3, '
                 'beta_1 0.5 for the encoder and decoder'),
      'discriminator': base.OptimizerRecipe(
          'adam', 5e-4, beta_1=0.5,
          source='WAE (Tolstikhin et al., 2018), MNIST: Adam 5e-4, '
                 'beta_1 0.5 for the adversary of WAE-GAN'),
  }

  def __init__(self, decoder, encoder, penalty='mmd',
               latent_discriminator=None, penalty_weight=10.0, seed=0,
               name=None):
    if penalty not in PENALTIES:
      raise ValueError(f"WAE penalty must be 'mmd' or 'gan', got "
                       f'{penalty!r}.')
    if penalty == 'gan' and latent_discriminator is None:
      raise ValueError("The WAE 'gan' penalty needs a latent_discriminator.")
    super().__init__(decoder, seed=seed, name=name)
    self.encoder = encoder
    self.penalty = penalty
    self.penalty_weight = float(penalty_weight)
    self.latent_discriminator = (latent_discriminator if penalty == 'gan'
                                 else None)

  def recipe(self):
    recipe = dict(self.RECIPE)
    if self.penalty != 'gan':
      del recipe['discriminator']
    return recipe

  def optimizer_targets(self):
    targets = {'autoencoder': (self.encoder.trainable_variables +
                               self.decoder.trainable_variables)}
    if self.penalty == 'gan':
      targets['discriminator'] = self.latent_discriminator.trainable_variables
    return targets

  def train_step(self, data):
    images = base.unpack_images(data)
    batch_size = tf.shape(images)[0]
    prior_samples = self.latent_noise(batch_size, 0)
    logs = {}
    if self.penalty == 'gan':
      codes = self.encoder(images, training=True)
      with tf.GradientTape() as tape:
        discriminator_loss, _ = gan.non_saturating_losses(
            self.latent_discriminator(prior_samples, training=True),
            self.latent_discriminator(codes, training=True))
      self._apply('discriminator', tape, discriminator_loss,
                  self.latent_discriminator.trainable_variables)
      logs['d_loss'] = discriminator_loss
    variables = (self.encoder.trainable_variables +
                 self.decoder.trainable_variables)
    with tf.GradientTape() as tape:
      codes = self.encoder(images, training=True)
      reconstruction = tf.reduce_mean(base.squared_error(
          images, self.decoder(codes, training=True)))
      if self.penalty == 'mmd':
        divergence = imq_mmd(prior_samples, codes)
      else:
        divergence = tf.reduce_mean(tf.nn.softplus(
            -self.latent_discriminator(codes, training=True)))
      loss = reconstruction + self.penalty_weight * divergence
    self._apply('autoencoder', tape, loss, variables)
    logs.update({'loss': loss, 'reconstruction': reconstruction,
                 'penalty': divergence})
    return self._finish_step(logs)

  def hyperparameters(self):
    return {'penalty': self.penalty, 'penalty_weight': self.penalty_weight,
            'reconstruction': 'squared error summed over pixels'}
