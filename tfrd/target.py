"""The annealed target log q̃_β(z|x) = log p(z) - β d(x, f(z)) (eq. 10).

The target is linear in β, so its two parts are evaluated and cached
separately: moving the chain from β_{k-1} to β_k, and the log-weight update
-(β_k - β_{k-1}) d(x, f(z_{k-1})), then need no decoder evaluation at all
(docs/accuracy.md, "The estimator").

The decoder is called as `tfrd.decoders` says: Keras models (and objects
that declare `takes_training = True`) in inference mode, anything else with
the latents alone.
"""

import collections

import tensorflow as tf

from tfrd import decoders
from tfrd.probability import tfp

__all__ = ['TargetParts', 'AnnealedTarget', 'standard_normal_prior']

tfd = tfp.distributions


class TargetParts(
    collections.namedtuple(
        'TargetParts',
        ['prior_log_prob', 'distortion', 'grad_prior_log_prob',
         'grad_distortion'])):
  """log p(z), d(x, f(z)) and their gradients at one state (all float64).

  Attributes:
    prior_log_prob: [N·C].
    distortion: [N·C].
    grad_prior_log_prob: [N·C, D].
    grad_distortion: [N·C, D].
  """
  __slots__ = ()

  def log_prob(self, beta):
    """Unnormalized annealed log-density at inverse temperature `beta`."""
    return self.prior_log_prob - beta * self.distortion

  def grad_log_prob(self, beta):
    """Its gradient with respect to z."""
    return self.grad_prior_log_prob - beta * self.grad_distortion


def standard_normal_prior(latent_dim, dtype=tf.float64):
  """N(0, I) over a latent vector of size `latent_dim`."""
  return tfd.MultivariateNormalDiag(
      loc=tf.zeros([latent_dim], dtype), scale_diag=tf.ones([latent_dim], dtype))


class AnnealedTarget:
  """Evaluates the annealed target's parts for all chains of a batch of images.

  The latent state is one float64 tensor [N·C, D], image-major (the C chains
  of image 0, then of image 1, ...), so every evaluation is one decoder batch.

  Args:
    decoder: callable mapping latents [B, D] (in `decoder_dtype`) to outputs
      [B, ...] with E elements per example, called through
      `tfrd.decoders.call_in_inference_mode` (a Keras model with
      `training=False`).
    prior: a TFP distribution with event shape [D].
    distortion: a `tfrd.distortions.Distortion`.
    data: images [N, ...] with E elements each.
    num_chains: chains per image C.
    decoder_dtype: dtype the decoder expects; the chain state stays float64.
  """

  def __init__(self, decoder, prior, distortion, data, num_chains,
               decoder_dtype=tf.float32):
    self.decoder = decoder
    self.prior = prior
    self.distortion = distortion
    self.decoder_dtype = tf.as_dtype(decoder_dtype)
    data = tf.convert_to_tensor(data)
    self.num_images = int(data.shape[0])
    self.num_chains = int(num_chains)
    flat = tf.reshape(tf.cast(data, self.decoder_dtype), [self.num_images, -1])
    # [N, 1, ...] broadcasts against reconstructions [N, C, E] without copying
    # the data once per chain.
    self.data = tf.expand_dims(distortion.prepare(flat), 1)

  def _decode(self, latents):
    return decoders.call_in_inference_mode(self.decoder, latents)

  def distortion_of(self, z):
    """d(x, f(z)) [N·C] float64, without gradients (for checks and tests).

    z may also hold another number k of rows per image, [N·k, D] (static),
    image-major: `tfrd.preconditioning` takes Hessians on a few chains.
    """
    rows = z.shape[0]
    num_chains = (self.num_chains if rows is None else
                  rows // self.num_images)
    outputs = self._decode(tf.cast(z, self.decoder_dtype))
    outputs = tf.reshape(outputs, [self.num_images, num_chains, -1])
    return tf.reshape(tf.cast(self.distortion(self.data, outputs), tf.float64),
                      [-1])

  def __call__(self, z):
    """Returns the `TargetParts` at latents z [N·C, D] float64.

    One forward and one backward pass of the decoder.
    """
    with tf.GradientTape(persistent=False) as tape:
      tape.watch(z)
      distortion = self.distortion_of(z)
    grad_distortion = tape.gradient(distortion, z)
    with tf.GradientTape() as tape:
      tape.watch(z)
      prior_log_prob = tf.cast(self.prior.log_prob(tf.cast(z, self.prior.dtype)),
                               tf.float64)
    grad_prior_log_prob = tape.gradient(prior_log_prob, z)
    return TargetParts(prior_log_prob, distortion, grad_prior_log_prob,
                       grad_distortion)
