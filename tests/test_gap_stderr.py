"""BDMC's standard error of the mean gap is not fooled by a few agreeing images."""

import numpy as np
import pytest

import tfrd
from tfrd import bdmc as bdmc_lib
from tfrd import estimators


def _result(gap, forward_ess, reverse_log_weights):
  """A BDMCResult with the given per-image gaps and chain weights."""
  gap = np.asarray(gap, np.float64)
  lower = -100.0 + np.zeros_like(gap)
  n = gap.size
  estimate = estimators.RDEstimate(lower, np.zeros(n), np.zeros(n),
                                   np.asarray(forward_ess, np.float64))
  forward = tfrd.ais.AISRun(np.array([1.0]), [estimate], None, np.array([0.6]),
                            None, 0, False, {})
  return bdmc_lib.BDMCResult(
      beta=1.0, lower=lower, upper=lower + gap, gap=gap, forward=forward,
      reverse_log_weights=np.asarray(reverse_log_weights, np.float64),
      reverse_accept_rate=0.6, num_transitions=10, num_decoder_gradients=0,
      wall_time_s={}, simulated=None)


def test_three_agreeing_images_do_not_shrink_the_standard_error():
  # report/longer/fig5a alpha0, beta = 1: three images whose gaps agree to
  # 0.015 nats while each image's bounds carry ~0.2 nats of chain noise
  # (forward ESS 11-14 of 16 chains; reverse log-weights spread 0.45): the
  # spread of 12 more images of that model is 0.18 nats.
  rng = np.random.default_rng(0)
  result = _result([-0.0641, -0.0842, -0.0545], [10.9, 12.1, 14.0],
                   0.45 * rng.standard_normal((3, 16)))
  # The mean gap, -0.068, is within noise, not "below -2 s.e." (the spread
  # of these three gaps alone gives 0.0088).
  assert result.mean_gap > -2 * result.gap_stderr
  assert 0.07 < result.gap_stderr < 0.15
  assert result.gap_stderr == result.gap_stderr_chains
  assert result.gap_stderr_images == pytest.approx(0.0088, abs=5e-4)


def test_spread_out_images_keep_their_own_standard_error():
  # Gaps spread far wider than the chains' noise (images of different
  # difficulty): the spread over images is the larger, and is kept.
  gaps = [0.1, 2.0, -1.0, 0.5]
  result = _result(gaps, [15.9] * 4, np.zeros((4, 16)))
  assert result.gap_stderr == pytest.approx(np.std(gaps, ddof=1) / 2)


def test_one_image_has_the_chains_standard_error():
  # Forward ESS 8 of 16, reverse weights 1 and 3: about 0.3 nats of noise.
  result = _result([0.05], [8.0], np.log([[1.0] * 8 + [3.0] * 8]))
  assert 0.25 < result.gap_stderr < 0.35
  # The spread over images does not exist for one image: None, not 0.
  assert result.gap_stderr_images is None


def test_one_image_with_one_chain_has_no_standard_error():
  # Neither a spread over images nor one over chains: nothing to report.
  result = _result([0.05], [1.0], np.zeros((1, 1)))
  assert result.gap_stderr_chains is None
  assert result.gap_stderr is None
