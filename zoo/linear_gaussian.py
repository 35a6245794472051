"""The linear Gaussian decoder (a linear VAE's optimum) fitted in closed form.

x = Wz + b + ε with z ~ N(0, I), ε ~ N(0, σ²I): the maximum-likelihood fit is
probabilistic PCA (Tipping & Bishop, 1999), the solution a linear VAE
converges to. Its rate-prior distortion curve is known exactly
(`tfrd.linear_rate_distortion`, appendix D.3.1 of Huang et al.), which makes
it tfrd's end-to-end oracle on real data.
"""

import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = ['fit_linear_gaussian', 'make_linear_decoder']


def fit_linear_gaussian(images, latent_dim):
  """Maximum-likelihood linear Gaussian decoder (probabilistic PCA).

  Args:
    images: [N, ...] training images.
    latent_dim: D.

  Returns:
    (kernel [D, E], bias [E], noise_scale σ), float64.
  """
  flat = images.reshape(images.shape[0], -1).astype(np.float64)
  bias = flat.mean(axis=0)
  covariance = np.cov(flat, rowvar=False)
  eigenvalues, eigenvectors = np.linalg.eigh(covariance)
  order = np.argsort(eigenvalues)[::-1]
  eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
  noise_variance = eigenvalues[latent_dim:].mean()
  scales = np.sqrt(np.maximum(eigenvalues[:latent_dim] - noise_variance, 0.0))
  kernel = (eigenvectors[:, :latent_dim] * scales).T
  return kernel, bias, float(np.sqrt(noise_variance))


def make_linear_decoder(kernel, bias):
  """A Keras 3 `Dense` decoder x̂ = z·kernel + bias."""
  import keras  # pylint: disable=g-import-not-at-top
  model = keras.Sequential(
      [keras.Input((kernel.shape[0],)), keras.layers.Dense(kernel.shape[1])],
      name='linear_decoder')
  model.layers[-1].set_weights([kernel.astype(np.float32),
                                bias.astype(np.float32)])
  return model
