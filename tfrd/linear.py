"""Closed-form rate-prior distortion curve of a linear decoder (appendix D.3.1).

For x̂ = zA + b (A of shape [D, E], as a Keras `Dense` kernel), a standard
normal prior and a distortion d = a·||x - x̂||² + c (squared error: a = 1,
c = 0; Gaussian NLL with scale σ: a = 1/(2σ²), c = E·log(σ√(2π))), the optimal
channel q_β(z|x) ∝ p(z) exp(-β d) is Gaussian with precision
P = I + 2βa·A·Aᵀ and mean μ = P⁻¹·2βa·A(x - b). With the eigendecomposition
A·Aᵀ = V diag(s²) Vᵀ every quantity is a sum over the D latent directions:

    log Z_β = -βc - βa|y|² + ½ Σ_j h_j² / (1 + 2βa s_j²) - ½ Σ_j log(1 + 2βa s_j²)
    D_β     = c + a(|y - Aᵀμ|² + Σ_j s_j² / (1 + 2βa s_j²))
    R_β     = KL(N(μ, P⁻¹) || N(0, I)) = -log Z_β - β D_β

with y = x - b and h = 2βa·VᵀA·y. This is the paper's eq. 50–63 for general
a and c, computed in float64.
"""

import collections

import numpy as np

from tfrd import distortions as distortions_lib

__all__ = ['LinearRDCurve', 'linear_rate_distortion',
           'linear_rate_distortion_scale_mixture', 'linear_distortion_variance',
           'distortion_stderr', 'ExactComparison', 'compare_with_exact']


class LinearRDCurve(
    collections.namedtuple('LinearRDCurve',
                           ['betas', 'rate', 'distortion', 'log_z'])):
  """Exact per-image values; `rate`, `distortion`, `log_z` are [P, N] float64."""
  __slots__ = ()


def _quadratic_form(distortion, num_dims):
  if isinstance(distortion, distortions_lib.SquaredError):
    return 1.0, 0.0
  if isinstance(distortion, distortions_lib.GaussianNLL):
    return distortion.precision_factor, distortion.constant(num_dims)
  raise ValueError(
      f'The closed form covers squared error and Gaussian NLL, not '
      f'{type(distortion).__name__}.')


def linear_rate_distortion(kernel, bias, data, betas, distortion):
  """Exact R_β(x), D_β(x) and log Z_β(x) of the decoder x̂ = z·kernel + bias.

  Args:
    kernel: [D, E] weights.
    bias: [E] offsets.
    data: [N, ...] images with E elements each.
    betas: [P] non-negative inverse temperatures.
    distortion: `SquaredError` or `GaussianNLL`.

  Returns:
    A `LinearRDCurve`.
  """
  kernel = np.asarray(kernel, dtype=np.float64)
  bias = np.asarray(bias, dtype=np.float64).reshape(-1)
  betas = np.asarray(betas, dtype=np.float64).reshape(-1)
  data = np.asarray(data, dtype=np.float64)
  data = data.reshape(data.shape[0], -1)
  if kernel.ndim != 2 or kernel.shape[1] != data.shape[1]:
    raise ValueError(f'kernel has shape {kernel.shape}; expected [D, '
                     f'{data.shape[1]}].')
  a, c = _quadratic_form(distortion, data.shape[1])

  eigenvalues, eigenvectors = np.linalg.eigh(kernel @ kernel.T)
  eigenvalues = np.clip(eigenvalues, 0.0, None)  # s_j², exact zeros allowed
  y = data - bias  # [N, E]
  projection = y @ kernel.T @ eigenvectors  # [N, D]: Vᵀ A y per image
  squared_norm = np.sum(y**2, axis=-1)  # [N]

  scale = 2.0 * a * betas[:, None, None]  # [P, 1, 1]
  shrink = 1.0 + scale * eigenvalues  # [P, 1, D]
  mean = scale * projection[None] / shrink  # μ in the V basis, [P, N, D]
  h = scale * projection[None]
  log_det_precision = np.sum(np.log(shrink), axis=-1)  # [P, 1]
  log_z = (-betas[:, None] * (c + a * squared_norm[None]) +
           0.5 * np.sum(h**2 / shrink, axis=-1) - 0.5 * log_det_precision)
  residual = (squared_norm[None] - 2.0 * np.sum(projection[None] * mean, -1) +
              np.sum(eigenvalues * mean**2, axis=-1))
  distortion_value = c + a * (residual + np.sum(eigenvalues / shrink, -1))
  latent_dim = kernel.shape[0]
  rate = 0.5 * (np.sum(1.0 / shrink, -1) + np.sum(mean**2, -1) - latent_dim +
                log_det_precision)
  return LinearRDCurve(betas, rate, distortion_value, log_z)


def linear_rate_distortion_scale_mixture(kernel, bias, data, betas,
                                         distortion, weights, scales):
  """Exact curve of x̂ = z·kernel + bias under a prior Σ_k π_k N(0, s_k² I).

  §6.2's damaged prior (1 - α)N(0, I) + αN(0, 10 I) is the case
  π = (1 - α, α), s = (1, √10). With z = s·u each component is the standard
  normal prior with kernel s·A, so Z = Σ_k π_k Z_k, q_β is the mixture of the
  components' channels with responsibilities π_k Z_k / Z, D is their
  responsibility-weighted mean, and R = -log Z - βD.

  Args:
    kernel, bias, data, betas, distortion: as in `linear_rate_distortion`.
    weights: mixture weights π_k (summing to 1).
    scales: component standard deviations s_k.

  Returns:
    A `LinearRDCurve`.
  """
  weights = np.asarray(weights, dtype=np.float64)
  if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
    raise ValueError(f'weights must be non-negative and sum to 1, got '
                     f'{weights.tolist()}.')
  kernel = np.asarray(kernel, dtype=np.float64)
  parts = [linear_rate_distortion(scale * kernel, bias, data, betas,
                                  distortion)
           for weight, scale in zip(weights, scales) if weight > 0]
  log_terms = np.stack([np.log(weight) + part.log_z
                        for weight, part in zip(weights[weights > 0], parts)])
  log_z = np.logaddexp.reduce(log_terms, axis=0)
  responsibility = np.exp(log_terms - log_z)
  distortion_value = np.sum(
      responsibility * np.stack([part.distortion for part in parts]), axis=0)
  betas = parts[0].betas
  rate = -log_z - betas[:, None] * distortion_value
  return LinearRDCurve(betas, rate, distortion_value, log_z)


def linear_distortion_variance(kernel, bias, data, betas, distortion,
                               relative_step=1e-3):
  """Exact posterior variance Var_q(d) of the distortion, per point and image.

  d log Z/dβ = -D and d²log Z/dβ² = Var_q(d), so the variance is minus the
  slope of the exact distortion curve, taken here by a central difference
  of `linear_rate_distortion`.

  Args:
    kernel, bias, data, betas, distortion: as for `linear_rate_distortion`.
    relative_step: the difference step, relative to each β.

  Returns:
    [P, N] float64 variances.
  """
  betas = np.asarray(betas, np.float64)
  upper = linear_rate_distortion(kernel, bias, data,
                                 betas * (1 + relative_step), distortion)
  lower = linear_rate_distortion(kernel, bias, data,
                                 betas * (1 - relative_step), distortion)
  slope = ((upper.distortion - lower.distortion) /
           (2 * relative_step * betas[:, None]))
  return np.maximum(-slope, 0.0)


def distortion_stderr(distortion_variance, effective_chains):
  """Monte Carlo standard error of an image-mean distortion estimate.

  Args:
    distortion_variance: [P, N] Var_q(d) at each point and image.
    effective_chains: [P] effective number of independent chains per image
      (fewer than one counts as one).

  Returns:
    [P] standard errors of the mean over the N images.
  """
  distortion_variance = np.asarray(distortion_variance, np.float64)
  num_images = distortion_variance.shape[1]
  per_image = distortion_variance / np.maximum(
      np.asarray(effective_chains, np.float64)[:, None], 1.0)
  return np.sqrt(per_image.sum(axis=1)) / num_images


class ExactComparison(
    collections.namedtuple('ExactComparison', [
        'rate_exact', 'distortion_exact', 'rate_error', 'distortion_error',
        'rate_allowed', 'distortion_allowed', 'distortion_mc_stderr'])):
  """An estimated curve against the exact one; all fields are [P] float64.

  `*_error` is estimate minus exact (image means), `*_allowed` the
  tolerance at each point, `distortion_mc_stderr` the Monte Carlo standard
  error of the estimated distortion that the tolerance includes.
  """
  __slots__ = ()

  @property
  def rate_error_over_tolerance(self):
    return np.abs(self.rate_error) / self.rate_allowed

  @property
  def distortion_error_over_tolerance(self):
    return np.abs(self.distortion_error) / self.distortion_allowed

  @property
  def within_tolerance(self):
    return bool(np.all(self.rate_error_over_tolerance <= 1.0) and
                np.all(self.distortion_error_over_tolerance <= 1.0))


def compare_with_exact(curve, exact, distortion_variance,
                       rate_tolerance_nats=0.3, rate_tolerance_relative=0.03,
                       distortion_tolerance_relative=0.03,
                       distortion_tolerance_stderrs=4.0):
  """Compares an AIS curve with the exact curve of its linear decoder.

  The tolerances are |ΔR| <= rate_tolerance_nats + rate_tolerance_relative·R
  and |ΔD| <= distortion_tolerance_relative·D + distortion_tolerance_stderrs·σ_D,
  where σ_D is the Monte Carlo standard error of the image-mean D from the
  exact posterior variance over the effective number of chains: at low β
  the posterior is broad and a few chains cannot pin D to a few percent.

  Args:
    curve: an `RDCurve` (image means `rate`, `distortion` and
      `effective_sample_size_per_image` [P, N]).
    exact: the `LinearRDCurve` at the same betas.
    distortion_variance: [P, N] exact Var_q(d) (`linear_distortion_variance`).
    rate_tolerance_nats, rate_tolerance_relative,
    distortion_tolerance_relative, distortion_tolerance_stderrs: as above.

  Returns:
    An `ExactComparison`.
  """
  rate_exact = exact.rate.mean(axis=1)
  distortion_exact = exact.distortion.mean(axis=1)
  noise = distortion_stderr(
      distortion_variance, curve.effective_sample_size_per_image.min(axis=1))
  return ExactComparison(
      rate_exact=rate_exact, distortion_exact=distortion_exact,
      rate_error=np.asarray(curve.rate) - rate_exact,
      distortion_error=np.asarray(curve.distortion) - distortion_exact,
      rate_allowed=(rate_tolerance_nats +
                    rate_tolerance_relative * np.abs(rate_exact)),
      distortion_allowed=(distortion_tolerance_relative *
                          np.abs(distortion_exact) +
                          distortion_tolerance_stderrs * noise),
      distortion_mc_stderr=noise)
