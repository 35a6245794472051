"""AIS estimators of log Z_k, D_k and R_k from log-weights (eq. 14–15)."""

import collections

import numpy as np

__all__ = ['RDEstimate', 'estimate_rate_distortion']


class RDEstimate(
    collections.namedtuple(
        'RDEstimate',
        ['log_z', 'distortion', 'rate', 'effective_sample_size',
         'distortion_variance'], defaults=(None,))):
  """Per-image estimates at one inverse temperature (float64 arrays [N]).

  Attributes:
    log_z: log Ẑ_k = logsumexp_i log w_k^i - log M (eq. 14).
    distortion: D̂_k = Σ_i w̃_k^i d(x, f(z_k^i)) (eq. 14).
    rate: R̂_k = -log Ẑ_k - β_k D̂_k (eq. 15); an upper bound in expectation.
    effective_sample_size: (Σ w)² / Σ w², between 1 and M; small values warn
      that a few chains dominate.
    distortion_variance: Σ_i w̃_k^i (d(x, f(z_k^i)) - D̂_k)², the estimate of
      Var_{q_k}[d] = d² log Z_β / dβ² at β_k: the speed along the schedule
      of `tfrd.schedules.thermodynamic_schedule`.
  """
  __slots__ = ()


def estimate_rate_distortion(beta, log_weights, distortions):
  """Computes eq. 14–15 for every image.

  Args:
    beta: the inverse temperature β_k of the point.
    log_weights: [N, M] AIS log-weights log w_k^i (float64).
    distortions: [N, M] d(x, f(z_k^i)) at the chains' current states.

  Returns:
    An `RDEstimate` of [N] arrays.

  Raises:
    ValueError: if the inputs are not finite.
  """
  log_weights = np.asarray(log_weights, dtype=np.float64)
  distortions = np.asarray(distortions, dtype=np.float64)
  if not (np.all(np.isfinite(log_weights)) and
          np.all(np.isfinite(distortions))):
    raise ValueError(
        'Non-finite AIS log-weights or distortions: the decoder produced NaN '
        'or infinite outputs along the chain.')
  num_chains = log_weights.shape[-1]
  max_log_weight = np.max(log_weights, axis=-1, keepdims=True)
  shifted = np.exp(log_weights - max_log_weight)
  total = np.sum(shifted, axis=-1)
  log_z = np.log(total) + max_log_weight[..., 0] - np.log(num_chains)
  normalized = shifted / total[..., np.newaxis]
  distortion = np.sum(normalized * distortions, axis=-1)
  rate = -log_z - beta * distortion
  effective_sample_size = 1.0 / np.sum(normalized**2, axis=-1)
  distortion_variance = np.sum(
      normalized * np.square(distortions - distortion[..., np.newaxis]),
      axis=-1)
  return RDEstimate(log_z, distortion, rate, effective_sample_size,
                    distortion_variance)
