"""tfrd.step_sizes: a bounded step-size table, checkpoints whose size does not
grow with the schedule, and a coarsened replay as accurate as the per-chunk
one on a decoder with an exact curve."""

import numpy as np
import pytest

import tfrd
from tfrd import ais
from tfrd import step_sizes


def test_segments_are_chunks_up_to_the_bound_then_groups():
  np.testing.assert_array_equal(step_sizes.chunk_segments(700),
                                np.arange(700))
  segments = step_sizes.chunk_segments(52228)
  assert segments[-1] + 1 <= step_sizes.MAX_SEGMENTS
  assert np.all(np.diff(segments) >= 0) and segments[0] == 0
  assert np.max(np.bincount(segments)) == 52  # ceil(52228 / 1024)


def test_recorder_is_the_per_chunk_geometric_mean():
  recorder = step_sizes.StepSizeRecorder(step_sizes.chunk_segments(3), 2)
  log_sums = np.log([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]) * 4
  for chunk in range(3):
    recorder.add(chunk, log_sums[chunk], 4)
  np.testing.assert_allclose(recorder.table(),
                             [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
  grouped = step_sizes.StepSizeRecorder(
      step_sizes.chunk_segments(3, max_segments=2), 1)
  for chunk, (value, steps) in enumerate([(0.1, 32), (0.4, 32), (0.2, 5)]):
    grouped.add(chunk, np.array([np.log(value) * steps]), steps)
  np.testing.assert_allclose(grouped.table(), [[0.2], [0.2]])


def _checkpoint_bytes(num_transitions, num_points, num_images=50,
                      num_chains=40, latent_dim=100):
  rd_betas = tfrd.rd_point_betas(num_points, 3333.3, spacing='paper')
  schedule = tfrd.build_schedule(
      rd_betas, tfrd.sigmoid_betas(num_transitions, 3333.3), 800, 10)
  segments = step_sizes.chunk_segments(ais.chunk_boundaries(schedule).size)
  state = ais.RunState(num_images * num_chains, num_images, latent_dim,
                       segments, schedule.rd_indices.size, 2)
  return sum(np.asarray(value).nbytes
             for value in state.to_checkpoint().values())


def test_checkpoint_size_does_not_grow_with_the_schedule():
  # The paper's 100-dimensional setting: 1999 points, 40 chains x 50 images.
  paper = _checkpoint_bytes(1_600_000, 1999)
  shorter = _checkpoint_bytes(400_000, 1999)
  # 4x the schedule: the table stays at most MAX_SEGMENTS rows (the two
  # differ only in how close to the bound each one's segment count falls).
  assert abs(paper - shorter) < 0.01 * paper
  assert paper < 100e6  # the bound, with room for the index files
  print(f'checkpoint of the 1.6M-distribution setting: {paper / 1e6:.1f} MB')


@pytest.mark.slow  # 64 chains, two resumed runs each: about 8 s a case
@pytest.mark.parametrize('max_segments', [None, 3])
def test_coarse_replay_is_exact_on_resume_and_accurate(
    small_linear_problem, tmp_path, monkeypatch, max_segments):
  problem = small_linear_problem
  if max_segments is not None:
    monkeypatch.setattr(step_sizes, 'MAX_SEGMENTS', max_segments)
  schedule = tfrd.build_schedule(tfrd.rd_point_betas(4, 50.0),
                                 tfrd.geometric_betas(300, 50.0, 1 / 12), 60,
                                 5)
  # 64 chains: a Monte Carlo error well inside the tolerance (16 left one
  # seed in three at its edge, with either table).
  kwargs = dict(latent_dim=problem.latent_dim,
                chains=tfrd.ChainSettings(
                    num_chains=64, seed=4,
                    hmc=tfrd.HMCSettings(num_leapfrog_steps=3)))
  model = problem.keras_model()
  curve = tfrd.estimate_rd_curve(model, problem.data, 'mse', schedule,
                                 **kwargs)
  num_chunks = ais.chunk_boundaries(schedule).size
  assert curve.step_size_table.shape == (
      min(num_chunks, step_sizes.MAX_SEGMENTS), problem.data.shape[0] * 64)
  exact = tfrd.linear_rate_distortion(
      problem.kernel.astype(np.float64), problem.bias.astype(np.float64),
      problem.data, curve.betas, tfrd.SquaredError())
  # As tests/test_ais.py asks of the per-chunk table: within 0.3 nats + 3%.
  rate_error = np.abs(curve.rate - exact.rate.mean(axis=1))
  assert np.all(rate_error <= 0.3 + 0.03 * np.abs(exact.rate.mean(axis=1)))

  class Stop:
    calls = 0

    def is_set(self):
      Stop.calls += 1
      return Stop.calls == num_chunks + 2  # inside the reported pass

  with pytest.raises(tfrd.RunInterrupted):
    tfrd.estimate_rd_curve(
        model, problem.data, 'mse', schedule,
        control=tfrd.RunControl(checkpoint_dir=str(tmp_path), stop=Stop()),
        **kwargs)
  resumed = tfrd.estimate_rd_curve(
      model, problem.data, 'mse', schedule,
      control=tfrd.RunControl(checkpoint_dir=str(tmp_path)), **kwargs)
  np.testing.assert_array_equal(resumed.rate_per_image, curve.rate_per_image)
  np.testing.assert_array_equal(resumed.step_size_table,
                                curve.step_size_table)
