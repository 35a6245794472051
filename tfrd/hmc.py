"""Hamiltonian Monte Carlo transitions for the annealed target.

The transition is standard HMC (Neal, 2011) with an identity mass matrix, a
leapfrog integrator and a Metropolis-Hastings correction, as in
`tfp.mcmc.HamiltonianMonteCarlo`. It is written against the cached
`TargetParts` instead of TFP's kernel for two reasons the estimator depends on:

- the momentum and the acceptance uniform come from per-image stateless
  streams (`tfrd.randomness`), so an image's chains do not depend on which
  other images share its batch; TFP's kernel draws both for the whole batch
  from one seed;
- the distortion and its gradient are cached separately from the prior, so
  the log-weight update and the move to the next β reuse them; TFP caches only
  their β-weighted sum.

A transition costs exactly `num_leapfrog_steps` decoder gradient evaluations:
the gradient at the start of the trajectory is the cached one, and the
rejected branch keeps the old cache. `tests/test_hmc.py` checks the integrator
against TFP's own leapfrog integrator.
"""

import collections

import tensorflow as tf

from tfrd import preconditioning
from tfrd.settings import HMCSettings
from tfrd.settings import STEP_SIZE_MODES

__all__ = ['HMCSettings', 'STEP_SIZE_MODES', 'HMCStepResult', 'leapfrog',
           'hmc_transition', 'adapt_step_size']

# `HMCSettings` and `STEP_SIZE_MODES` live in `tfrd.settings` (importable
# without TensorFlow); they are re-exported here, where they began.


class HMCStepResult(
    collections.namedtuple(
        'HMCStepResult', ['state', 'parts', 'log_accept_ratio', 'is_accepted'])):
  """Outcome of one HMC transition.

  Attributes:
    state: new latents [B, D].
    parts: `TargetParts` at the new latents.
    log_accept_ratio: [B], log of the MH acceptance ratio of the proposal
      (-inf for a non-finite proposal).
    is_accepted: bool [B].
  """
  __slots__ = ()


def leapfrog(target, beta, state, parts, momentum, step_size,
             num_leapfrog_steps, metric=None):
  """Integrates Hamilton's equations for H(z, p) = -log q̃_β(z) + pᵀM⁻¹p/2.

  Args:
    target: callable z -> `TargetParts` (one decoder gradient evaluation).
    beta: inverse temperature, scalar float64.
    state: latents [B, D].
    parts: `TargetParts` at `state` (reused, not recomputed).
    momentum: [B, D].
    step_size: [B, 1] per-chain step sizes.
    num_leapfrog_steps: L >= 1, a Python int or scalar tensor.
    metric: None (M = I), or per-image (eigenvectors [N, D, D], eigenvalues
      [N, D]) of a `tfrd.preconditioning` mass matrix M_β.

  Returns:
    (final state, final momentum, `TargetParts` at the final state).
  """
  momentum = momentum + 0.5 * step_size * parts.grad_log_prob(beta)

  def body(step, state, momentum, parts):
    if metric is None:
      state = state + step_size * momentum
    else:
      state = state + step_size * preconditioning.velocity(metric, beta,
                                                           momentum)
    parts = target(state)
    # The last half step closes the trajectory; all others are full steps.
    scale = tf.where(step + 1 < num_leapfrog_steps,
                     tf.constant(1.0, state.dtype), tf.constant(0.5, state.dtype))
    momentum = momentum + scale * step_size * parts.grad_log_prob(beta)
    return step + 1, state, momentum, parts

  _, state, momentum, parts = tf.while_loop(
      lambda step, *_: step < num_leapfrog_steps, body,
      (tf.constant(0), state, momentum, parts))
  return state, momentum, parts


def hmc_transition(target, beta, state, parts, momentum, log_uniform,
                   step_size, num_leapfrog_steps, metric=None):
  """One HMC transition leaving q_β(z|x) invariant.

  Args:
    target: callable z -> `TargetParts`.
    beta: inverse temperature, scalar float64.
    state: latents [B, D] float64.
    parts: `TargetParts` at `state`.
    momentum: standard normal draws [B, D].
    log_uniform: log of uniform draws [B] for the accept test.
    step_size: per-chain step sizes [B].
    num_leapfrog_steps: L.
    metric: None (identity mass matrix), or per-image (eigenvectors
      [N, D, D], eigenvalues [N, D]) of the mass matrix M_β of
      `tfrd.preconditioning`; `momentum` is then mapped to N(0, M_β).

  Returns:
    An `HMCStepResult`.
  """
  step_size = step_size[:, tf.newaxis]
  if metric is None:
    kinetic = lambda p: 0.5 * tf.reduce_sum(tf.square(p), axis=-1)
  else:
    momentum = preconditioning.momentum(metric, beta, momentum)
    kinetic = lambda p: preconditioning.kinetic_energy(metric, beta, p)
  proposal, final_momentum, proposal_parts = leapfrog(
      target, beta, state, parts, momentum, step_size, num_leapfrog_steps,
      metric)
  current_energy = -parts.log_prob(beta) + kinetic(momentum)
  proposal_energy = -proposal_parts.log_prob(beta) + kinetic(final_momentum)
  log_accept_ratio = current_energy - proposal_energy
  finite = tf.math.is_finite(log_accept_ratio) & tf.reduce_all(
      tf.math.is_finite(proposal_parts.grad_distortion), axis=-1)
  log_accept_ratio = tf.where(
      finite, log_accept_ratio,
      tf.constant(float('-inf'), log_accept_ratio.dtype))
  is_accepted = log_uniform < log_accept_ratio

  def choose(new, old):
    mask = tf.reshape(is_accepted, [-1] + [1] * (len(new.shape) - 1))
    return tf.where(mask, new, old)

  new_state = choose(proposal, state)
  new_parts = tf.nest.map_structure(choose, proposal_parts, parts)
  return HMCStepResult(new_state, new_parts, log_accept_ratio, is_accepted)


def adapt_step_size(step_size, log_accept_ratio, target_accept_prob=0.65,
                    adaptation_rate=0.05, min_step_size=1e-7,
                    max_step_size=10.0):
  """Per-chain multiplicative step-size update toward a target acceptance.

  ε ← ε · exp(rate · (min(1, exp(log α)) - target)), whose fixed point has
  mean acceptance probability equal to the target (Neal's 65%). Only the
  preliminary run may adapt (appendix D.2): adapting the reported chain
  would break the Markov property AIS relies on.

  Args:
    step_size: [B] current step sizes.
    log_accept_ratio: [B] from the last transition.
    target_accept_prob: desired mean acceptance probability.
    adaptation_rate: log step-size change per unit of acceptance error.
    min_step_size: lower clip, keeps a chain that never accepts alive.
    max_step_size: upper clip.

  Returns:
    Updated step sizes [B].
  """
  accept_prob = tf.exp(tf.minimum(log_accept_ratio, 0.0))
  updated = step_size * tf.exp(adaptation_rate *
                               (accept_prob - target_accept_prob))
  return tf.clip_by_value(updated, min_step_size, max_step_size)
