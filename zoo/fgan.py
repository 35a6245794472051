"""f-GAN: variational divergence minimization (Nowozin et al., 2016).

For a convex f with f(1) = 0 and Fenchel conjugate f*, the f-divergence has
the variational lower bound

    D_f(P_data || P_G) ≥ sup_T E_data T(x) - E_G f*(T(x)),

tight at T*(x) = f'(p_data(x) / p_G(x)). The discriminator returns an
unbounded V(x) and T = g_f(V) maps it into the domain of f*; the
discriminator maximizes the bound and the generator maximizes
E_G g_f(V(G(z))) (the paper's §3.2 alternative to minimizing the bound,
which, like the non-saturating GAN loss, keeps gradients alive early on).

Divergences (output activation g_f, conjugate f*, both as functions of V and
simplified so that no intermediate overflows):

| name | f(u) | g_f(v) | f*(g_f(v)) |
| --- | --- | --- | --- |
| kl | u log u | v | exp(v - 1) |
| reverse_kl | -log u | -exp(-v) | v - 1 |
| pearson | (u - 1)² | v | v²/4 + v |
| hellinger (squared) | (√u - 1)² | 1 - exp(-v) | exp(v) - 1 |
| js | Jensen–Shannon | log 2 - softplus(-v) | softplus(v) - log 2 |
"""

import math

import tensorflow as tf

from zoo import base

__all__ = ['DIVERGENCES', 'FGAN', 'activation', 'conjugate']


def _kl(v):
  return v, tf.exp(v - 1.0)


def _reverse_kl(v):
  # f*(t) = -1 - log(-t) at t = -exp(-v).
  return -tf.exp(-v), v - 1.0


def _pearson(v):
  return v, 0.25 * tf.square(v) + v


def _hellinger(v):
  # f*(t) = t / (1 - t) at t = 1 - exp(-v).
  return 1.0 - tf.exp(-v), tf.exp(v) - 1.0


def _js(v):
  # f*(t) = -log(2 - exp(t)) at t = log 2 - softplus(-v), i.e. exp(t) =
  # 2 σ(v), so 2 - exp(t) = 2 σ(-v).
  return (math.log(2.0) - tf.nn.softplus(-v),
          tf.nn.softplus(v) - math.log(2.0))


# name -> V -> (T = g_f(V), f*(T)).
DIVERGENCES = {
    'kl': _kl,
    'reverse_kl': _reverse_kl,
    'pearson': _pearson,
    'hellinger': _hellinger,
    'js': _js,
}


def _check(divergence):
  if divergence not in DIVERGENCES:
    raise ValueError(f'Unknown f-divergence {divergence!r}; choose one of '
                     f'{", ".join(DIVERGENCES)}.')


def activation(divergence, v):
  """T = g_f(V) of `divergence` for discriminator outputs V."""
  _check(divergence)
  return DIVERGENCES[divergence](v)[0]


def conjugate(divergence, v):
  """f*(g_f(V)) of `divergence` for discriminator outputs V."""
  _check(divergence)
  return DIVERGENCES[divergence](v)[1]


class FGAN(base.GenerativeModel):
  """f-GAN with one of five f-divergences.

  Args:
    decoder: the generator.
    discriminator: images -> V [B, 1], unbounded.
    divergence: 'kl', 'reverse_kl', 'pearson', 'hellinger' (squared
      Hellinger) or 'js' (Jensen–Shannon).
    seed: noise seed.
    name: the model's name.

  Raises:
    ValueError: for an unknown divergence.
  """

  family = 'fgan'
  RECIPE = {
      name: base.OptimizerRecipe(
          'adam', 2e-4, beta_1=0.5,
          source="DCGAN (Radford et al., 2015), as the zoo's GAN")
      for name in ('generator', 'discriminator')}

  def __init__(self, decoder, discriminator, divergence='js', seed=0,
               name=None):
    _check(divergence)
    super().__init__(decoder, seed=seed, name=name)
    self.discriminator = discriminator
    self.divergence = divergence

  def optimizer_targets(self):
    return {'generator': self.decoder.trainable_variables,
            'discriminator': self.discriminator.trainable_variables}

  def train_step(self, data):
    images = base.unpack_images(data)
    batch_size = tf.shape(images)[0]
    split = DIVERGENCES[self.divergence]
    fakes = self.decoder(self.latent_noise(batch_size, 0), training=True)
    with tf.GradientTape() as tape:
      real_t, _ = split(self.discriminator(images, training=True))
      _, fake_conjugate = split(self.discriminator(fakes, training=True))
      bound = tf.reduce_mean(real_t) - tf.reduce_mean(fake_conjugate)
      discriminator_loss = -bound
    self._apply('discriminator', tape, discriminator_loss,
                self.discriminator.trainable_variables)
    with tf.GradientTape() as tape:
      fake_t, _ = split(self.discriminator(
          self.decoder(self.latent_noise(batch_size, 1), training=True),
          training=True))
      generator_loss = -tf.reduce_mean(fake_t)
    self._apply('generator', tape, generator_loss,
                self.decoder.trainable_variables)
    return self._finish_step({'d_loss': discriminator_loss,
                              'g_loss': generator_loss,
                              'divergence_bound': bound})

  def hyperparameters(self):
    return {'divergence': self.divergence,
            'generator_loss': 'maximize E g_f(V(G(z))) (f-GAN section 3.2)'}
