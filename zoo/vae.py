"""Variational autoencoder with a Gaussian decoder of learned global variance.

p(z) = N(0, I), p(x|z) = N(x | f(z), σ² I) with one variance σ² for all
pixels, learned with the networks (appendix D.1: "the decoder variance is a
global parameter learned during the training"), and q(z|x) =
N(μ(x), diag s²(x)). Training maximizes the ELBO

    E_q[log p(x|z)] - KL(q(z|x) || p(z))

with one reparameterized sample. The exported decoder returns the mean f(z)
in [0, 1]; σ² is written to the model's metadata sidecar
(`observation_variance`), so that its curve can be measured with the
Gaussian NLL at the learned scale:

    python -m apps.rd_curve --model=vae.keras --distortion=gaussian_nll \
        --gaussian_scale=SIGMA
"""

import math

import keras
import tensorflow as tf

from zoo import base

__all__ = ['VAE']

# Initial σ²: about the variance of MNIST's pixels (mostly 0 and 1, mean
# 0.13), i.e. the maximum-likelihood σ² of a decoder that returns the mean
# image. Adam moves log σ² by about one learning rate per step, so starting
# at 1 would leave the variance far too wide for a short run.
_INITIAL_VARIANCE = 0.1


class VAE(base.GenerativeModel):
  """Gaussian VAE (Kingma & Welling, 2014) with a learned global log σ².

  Args:
    decoder: latents [B, D] -> means [B, H, W, C] in [0, 1].
    encoder: images -> [B, 2D]: the posterior mean, then its log-variance.
    initial_variance: starting value of σ².
    seed: noise seed.
    name: the model's name.
  """

  family = 'vae'
  RECIPE = {
      'vae': base.OptimizerRecipe(
          'adam', 1e-4,
          source='Huang et al. (2020) D.1: Adam, learning rate 1e-4 (for '
                 '1000 epochs)'),
  }

  def __init__(self, decoder, encoder, initial_variance=_INITIAL_VARIANCE,
               seed=0, name=None):
    super().__init__(decoder, seed=seed, name=name)
    self.encoder = encoder
    self.initial_variance = float(initial_variance)
    self.log_variance = self.add_weight(
        shape=(), initializer=keras.initializers.Constant(
            math.log(self.initial_variance)), name='log_variance')
    if int(encoder.outputs[0].shape[-1]) != 2 * self.latent_dim:
      raise ValueError(
          f'The encoder returns {encoder.outputs[0].shape[-1]} values; a VAE '
          f'with codes of size {self.latent_dim} needs {2 * self.latent_dim} '
          f'(mean and log-variance).')

  @property
  def observation_variance(self):
    """The learned σ² (a Python float)."""
    return float(math.exp(float(self.log_variance.numpy())))

  def optimizer_targets(self):
    return {'vae': self.trainable_variables}

  def negative_elbo(self, images, salt=0, training=False):
    """Per-image -ELBO and its parts.

    Returns:
      (nll [B], kl [B]): -E_q log p(x|z) (one sample) and KL(q || p), in
      nats per image.
    """
    statistics = self.encoder(images, training=training)
    mean, log_variance_q = tf.split(statistics, 2, axis=-1)
    noise = tf.random.stateless_normal(tf.shape(mean), self._seed(salt))
    latents = mean + tf.exp(0.5 * log_variance_q) * noise
    reconstruction = self.decoder(latents, training=training)
    squared = base.squared_error(images, reconstruction)
    num_pixels = tf.cast(tf.reduce_prod(tf.shape(images)[1:]), tf.float32)
    log_variance = tf.convert_to_tensor(self.log_variance)
    nll = 0.5 * (squared * tf.exp(-log_variance) +
                 num_pixels * (log_variance + math.log(2 * math.pi)))
    kl = 0.5 * tf.reduce_sum(
        tf.square(mean) + tf.exp(log_variance_q) - log_variance_q - 1.0,
        axis=-1)
    return nll, kl

  def train_step(self, data):
    images = base.unpack_images(data)
    variables = self.trainable_variables
    with tf.GradientTape() as tape:
      nll, kl = self.negative_elbo(images, salt=0, training=True)
      loss = tf.reduce_mean(nll + kl)
    self._apply('vae', tape, loss, variables)
    return self._finish_step({
        'loss': loss, 'nll': tf.reduce_mean(nll), 'kl': tf.reduce_mean(kl),
        'sigma': tf.exp(0.5 * tf.convert_to_tensor(self.log_variance))})

  def hyperparameters(self):
    return {'initial_variance': self.initial_variance,
            'likelihood': 'gaussian, one learned variance for all pixels'}

  def export_metadata(self):
    variance = self.observation_variance
    return {
        'observation_variance': variance,
        'observation_log_variance': float(self.log_variance.numpy()),
        'observation_scale': math.sqrt(variance),
    }
