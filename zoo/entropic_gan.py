"""Entropic GAN and its surrogate sample likelihood (Balaji et al., 2019).

An entropic GAN is a Wasserstein GAN whose optimal-transport problem has an
entropy regularizer. With a loss l between images (here the squared error
summed over pixels, tfrd's 'mse'), regularization λ > 0 and Ŷ = G(X),
X ~ N(0, I):

    primal:  min_G min_{P_{Y,Ŷ}} E l(Y, Ŷ) + λ KL(P_{Y,Ŷ} || P_Y × P_Ŷ)
    dual:    min_G max_{D1, D2} E D1(Y) - E D2(Ŷ)
                                - λ E_{P_Y × P_Ŷ} exp(v(y, ŷ) / λ),
             v(y, ŷ) = D1(y) - D2(ŷ) - l(y, ŷ),

and the optimal coupling is P*(y, ŷ) = exp(v*(y, ŷ) / λ) P_Y(y) P_Ŷ(ŷ).
The critics D1 (on data) and D2 (on samples) need no Lipschitz constraint:
for a fixed G the dual is a smooth concave problem. In a minibatch of B
data and B samples the expectation over P_Y × P_Ŷ is the mean over all B²
pairs.

`dual_form='logsumexp'` (the default) maximizes the same dual with the free
additive constant of D1 optimized out in closed form:

    E D1(Y) - E D2(Ŷ) - λ log E_{P_Y × P_Ŷ} exp(v / λ)

(maximizing a - λ e^{a/λ} M over a shift a of D1 gives -λ log M - λ). It has
the same optimal critics up to a constant, the same coupling and generator
gradient, but is computed with a log-sum-exp and cannot overflow, whereas
exp(v / λ) can in float32 while the critics are far from optimal.
`dual_form='exp'` is the slides' formula as it stands.

**Surrogate likelihood.** The explicit model behind an entropic GAN is

    f_{Y|X=x}(y) = C exp(-l(y, G(x)) / λ),

for squared error a Gaussian N(G(x), (λ/2) I) with C = (πλ)^{-d/2}.
Its marginal obeys an ELBO with the dual's coupling as the posterior,

    log f_Y(y) ≥ log C - (1/λ) E_{P*_{X|Y=y}} l(y, G(x))
                 - KL(P*_{X|Y=y} || P_X),
    P*_{X|Y=y}(x) ∝ P_X(x) exp(-(D2(G(x)) + l(y, G(x))) / λ),

(D1(y) is constant in x and cancels), the entropic GAN's "surrogate
log-likelihood". `surrogate_log_likelihood` estimates it by self-normalized
importance sampling over K prior samples. With the weights w_k ∝
exp(-(D2(G(x_k)) + l_k)/λ) the estimate is

    log C - (1/λ) Σ_k w_k l_k - Σ_k w_k log(K w_k).

Compare with tfrd: log f_Y(y) = log C + log Z_β(y) at β = 1/λ, with
Z_β(y) = ∫ p(x) exp(-β l(y, G(x))) dx, which AIS estimates along with the
rate R_β = KL(q_β || p) and distortion D_β = E_{q_β} l; -R_β - β D_β =
log Z_β, the same ELBO at its optimal posterior q_β. On the same K samples
the surrogate is at most the plain importance-sampling estimate
log (1/K) Σ_k exp(-l_k/λ) (Gibbs' variational principle; equality when D2 is
constant), so any gap to tfrd's value is the price of the critic's coupling
and of sampling from the prior. `apps.entropic_gan` shows them side by side.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from tfrd import decoders
from zoo import base

__all__ = ['DUAL_FORMS', 'EntropicGAN', 'critics_model', 'log_normalizer',
           'pairwise_squared_error', 'surrogate_log_likelihood']

DUAL_FORMS = ('logsumexp', 'exp')


def pairwise_squared_error(images, samples):
  """l(y_i, ŷ_j) = Σ_pixels (y_i - ŷ_j)² for all pairs: [N, M]."""
  y = tf.reshape(images, [tf.shape(images)[0], -1])
  y_hat = tf.reshape(samples, [tf.shape(samples)[0], -1])
  # ||y||² + ||ŷ||² - 2 y·ŷ costs one matmul instead of an [N, M, E] tensor;
  # rounding can make it slightly negative, so it is clipped at zero.
  return tf.maximum(
      tf.reduce_sum(tf.square(y), 1)[:, None] +
      tf.reduce_sum(tf.square(y_hat), 1)[None, :] -
      2.0 * tf.matmul(y, y_hat, transpose_b=True), 0.0)


def log_normalizer(num_dims, regularization):
  """log C of f(y|x) = C exp(-||y - G(x)||² / λ): -d/2 · log(πλ)."""
  return -0.5 * num_dims * math.log(math.pi * regularization)


def critics_model(critic_data, critic_samples, name='critics'):
  """One model of the two critics: images -> [B, 2] = [D1(y), D2(y)].

  Built from Keras layers only, so that it is saved and loaded as one
  `.keras` file like the decoder.
  """
  inputs = keras.Input(critic_data.inputs[0].shape[1:], name='image')
  outputs = keras.layers.Concatenate(name='d1_d2')(
      [critic_data(inputs), critic_samples(inputs)])
  return keras.Model(inputs, outputs, name=name)


class EntropicGAN(base.GenerativeModel):
  """Entropic GAN with squared-error loss, trained through its dual.

  Args:
    decoder: the generator G.
    critic_data: D1, images -> [B, 1].
    critic_samples: D2, images -> [B, 1].
    regularization: λ > 0, the entropy weight; the surrogate model's
      f(y|x) ∝ exp(-l(y, G(x)) / λ), so tfrd measures it at β = 1/λ.
    dual_form: 'logsumexp' (stable; default) or 'exp' (see module doc).
    num_critic: critic steps per generator step.
    seed: noise seed.
    name: the model's name.

  Raises:
    ValueError: for a non-positive λ or an unknown dual form.
  """

  family = 'entropic_gan'
  RECIPE = {
      'generator': base.OptimizerRecipe(
          'adam', 2e-4, beta_1=0.5, beta_2=0.9,
          source="DCGAN's rate and beta_1 (Radford et al., 2015) with "
                 "WGAN-GP's beta_2 (Gulrajani et al., 2017): Balaji et "
                 'al. (2019) give none in ../shared/papers'),
      'critics': base.OptimizerRecipe(
          'adam', 2e-4, beta_1=0.5, beta_2=0.9,
          source="as the generator's"),
  }

  def __init__(self, decoder, critic_data, critic_samples,
               regularization=0.1, dual_form='logsumexp', num_critic=1,
               seed=0, name=None):
    regularization = float(regularization)
    if not regularization > 0 or not math.isfinite(regularization):
      raise ValueError(f'The entropic regularization λ must be positive, '
                       f'got {regularization}.')
    if dual_form not in DUAL_FORMS:
      raise ValueError(f"dual_form must be 'logsumexp' or 'exp', got "
                       f'{dual_form!r}.')
    super().__init__(decoder, seed=seed, name=name)
    self.critic_data = critic_data
    self.critic_samples = critic_samples
    self.regularization = regularization
    self.dual_form = dual_form
    self.num_critic = int(num_critic)

  def _critic_variables(self):
    return (self.critic_data.trainable_variables +
            self.critic_samples.trainable_variables)

  def optimizer_targets(self):
    return {'generator': self.decoder.trainable_variables,
            'critics': self._critic_variables()}

  def dual(self, images, samples, training=False):
    """The dual objective on a minibatch, and the coupled loss.

    Returns:
      (dual value, E_π l): the objective the critics maximize and the
      generator minimizes, and the mean loss under the minibatch coupling
      π ∝ exp(v / λ) (the primal's transport cost).
    """
    d1 = self.critic_data(images, training=training)[:, 0]
    d2 = self.critic_samples(samples, training=training)[:, 0]
    losses = pairwise_squared_error(images, samples)
    scaled = (d1[:, None] - d2[None, :] - losses) / self.regularization
    num_pairs = tf.cast(tf.size(scaled), scaled.dtype)
    if self.dual_form == 'exp':
      penalty = self.regularization * tf.reduce_mean(tf.exp(scaled))
    else:
      penalty = self.regularization * (
          tf.reduce_logsumexp(scaled) - tf.math.log(num_pairs))
    value = tf.reduce_mean(d1) - tf.reduce_mean(d2) - penalty
    coupling = tf.nn.softmax(tf.reshape(scaled, [-1]))
    coupled_loss = tf.reduce_sum(coupling * tf.reshape(losses, [-1]))
    return value, tf.stop_gradient(coupled_loss)

  def train_step(self, data):
    images = base.unpack_images(data)
    batch_size = tf.shape(images)[0]
    variables = self._critic_variables()
    for index in range(self.num_critic):
      samples = self.decoder(self.latent_noise(batch_size, index),
                             training=True)
      with tf.GradientTape() as tape:
        value, coupled_loss = self.dual(images, samples, training=True)
        critic_loss = -value
      self._apply('critics', tape, critic_loss, variables)
    with tf.GradientTape() as tape:
      samples = self.decoder(self.latent_noise(batch_size, self.num_critic),
                             training=True)
      generator_loss, _ = self.dual(images, samples, training=True)
    self._apply('generator', tape, generator_loss,
                self.decoder.trainable_variables)
    return self._finish_step({'dual': value, 'g_loss': generator_loss,
                              'coupled_loss': coupled_loss})

  def critics(self):
    """D1 and D2 as one model, images -> [B, 2]."""
    return critics_model(self.critic_data, self.critic_samples)

  def hyperparameters(self):
    return {'regularization': self.regularization,
            'loss': 'squared error summed over pixels',
            'dual_form': self.dual_form, 'num_critic': self.num_critic}

  def exported_models(self):
    return {'critics': self.critics()}

  def export_metadata(self):
    num_dims = int(np.prod(self.image_shape))
    return {
        'entropic_regularization': self.regularization,
        'surrogate_beta': 1.0 / self.regularization,
        'surrogate_log_normalizer': log_normalizer(num_dims,
                                                   self.regularization),
    }


def surrogate_log_likelihood(decoder, critics, images, regularization,
                             num_samples=4096, seed=0, batch_size=512):
  """The entropic GAN's surrogate log-likelihood of each image, and more.

  Args:
    decoder: G, a Keras model latents [B, D] -> images.
    critics: images -> [B, 2] (D1, D2) as from `EntropicGAN.critics`, or a
      callable returning D2 alone as [B] or [B, 1]. Both are called as
      `tfrd.decoders` says (Keras models in inference mode).
    images: [N, ...] data, as many values per image as G's outputs.
    regularization: λ.
    num_samples: K, prior samples shared by all images.
    seed: seed of the prior samples.
    batch_size: decoder batch size.

  Returns:
    dict of float64 arrays [N]:
      'surrogate': log C - E_w l / λ - KL_w, the surrogate log-likelihood;
      'expected_loss': E_w l, 'kl': KL_w = Σ w log(K w);
      'importance_log_likelihood': log C + log (1/K) Σ exp(-l_k / λ), the
        plain importance-sampling estimate with the prior as proposal;
      'effective_sample_size': 1 / Σ w², of the coupling weights;
      and the scalar 'log_normalizer': log C.
  """
  images = np.asarray(images, np.float32)
  num_images = images.shape[0]
  latent_dim = int(decoder.inputs[0].shape[-1]) if hasattr(
      decoder, 'inputs') and decoder.inputs else None
  if latent_dim is None:
    raise ValueError('surrogate_log_likelihood needs a Keras decoder with a '
                     'defined input.')
  latents = np.random.default_rng(seed).standard_normal(
      (num_samples, latent_dim)).astype(np.float32)
  samples, d2 = [], []
  for start in range(0, num_samples, batch_size):
    batch = np.asarray(decoders.call_in_inference_mode(
        decoder, latents[start:start + batch_size]))
    scores = np.asarray(decoders.call_in_inference_mode(critics, batch))
    scores = scores.reshape(batch.shape[0], -1)
    samples.append(batch.reshape(batch.shape[0], -1))
    d2.append(scores[:, -1])  # D2 is the last column (or the only one).
  samples = np.concatenate(samples).astype(np.float64)
  d2 = np.concatenate(d2).astype(np.float64)
  flat = images.reshape(num_images, -1).astype(np.float64)
  if flat.shape[1] != samples.shape[1]:
    raise ValueError(f'Images have {flat.shape[1]} values each, the decoder '
                     f'returns {samples.shape[1]}.')
  # [N, K] losses in float64: exp(-l/λ) spans hundreds of orders of
  # magnitude, so everything below stays in log space.
  losses = np.maximum(
      (flat**2).sum(1)[:, None] + (samples**2).sum(1)[None, :] -
      2.0 * flat @ samples.T, 0.0)
  log_weights = -(d2[None, :] + losses) / regularization
  log_weights -= log_weights.max(axis=1, keepdims=True)
  weights = np.exp(log_weights)
  weights /= weights.sum(axis=1, keepdims=True)
  expected_loss = (weights * losses).sum(1)
  with np.errstate(divide='ignore', invalid='ignore'):
    kl = np.where(weights > 0, weights * np.log(num_samples * weights),
                  0.0).sum(1)
  log_c = log_normalizer(flat.shape[1], regularization)
  scaled = -losses / regularization
  top = scaled.max(axis=1)
  log_mean_exp = top + np.log(np.exp(scaled - top[:, None]).mean(axis=1))
  return {
      'surrogate': log_c - expected_loss / regularization - kl,
      'expected_loss': expected_loss,
      'kl': kl,
      'importance_log_likelihood': log_c + log_mean_exp,
      'effective_sample_size': 1.0 / (weights**2).sum(1),
      'log_normalizer': log_c,
  }
