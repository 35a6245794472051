"""tfrd.accuracy: the check every curve gets, its cost rule, the schedule
search of a target gap, and the warnings."""

import json

import numpy as np
import pytest
import tensorflow as tf

import tfrd
from tfrd import accuracy as accuracy_lib
from tfrd import preconditioning

# A 3-d linear decoder to 12 outputs: cheap, and its gap on a short
# schedule is well above a fraction of a nat.
_KERNEL = np.random.default_rng(0).normal(size=(3, 12)).astype(np.float32)


def _decoder(latents):
  return tf.matmul(tf.cast(latents, tf.float32), _KERNEL) + 0.4


_CHAINS = tfrd.ChainSettings(num_chains=4, seed=3, jit_compile=False,
                             hmc=tfrd.HMCSettings(num_leapfrog_steps=3))
_SCHEDULE = tfrd.ScheduleSettings(num_intermediate=40, num_rd_points=4,
                                  beta_max=10.0, min_before_first=10,
                                  min_between=2)
_PRIOR = tfrd.standard_normal_prior(3)


def _images(count):
  rng = np.random.default_rng(1)
  return (rng.normal(size=(count, 3)) @ _KERNEL + 0.4).astype(np.float32)


def test_default_points_are_the_low_end_one_and_the_top():
  schedule = tfrd.schedule_from_settings(_SCHEDULE)
  betas = accuracy_lib.check_betas('mse', schedule)
  assert betas.tolist() == [schedule.betas[schedule.rd_indices[0]], 1.0, 10.0]
  # Bernoulli NLL has an exact channel at beta = 1 only.
  assert accuracy_lib.check_betas('bernoulli_nll', schedule).tolist() == [1.0]
  with pytest.raises(ValueError, match='at most 10'):
    accuracy_lib.check_betas('mse', schedule, [1.0, 20.0])
  with pytest.raises(ValueError, match='beta = 2: BernoulliNLL'):
    accuracy_lib.check_betas('bernoulli_nll', schedule, [2.0])


@pytest.mark.parametrize('num_curve_images', [1, 3, 5, 20, 200])
def test_the_check_costs_at_most_half_the_curve(num_curve_images):
  schedule = tfrd.schedule_from_settings(tfrd.ScheduleSettings())
  chains = tfrd.ChainSettings()
  plan = accuracy_lib.plan_check('mse', schedule, num_curve_images, chains,
                                 tfrd.AccuracySettings())
  assert plan.betas.size == 3
  assert accuracy_lib.MIN_CHECK_IMAGES == 4
  assert (accuracy_lib.MIN_CHECK_IMAGES <= plan.num_images <=
          accuracy_lib.MAX_AUTO_IMAGES)
  # One simulated image costs 2.3 of the curve's images here (three points,
  # each forward with two passes and a reverse pass): from 20 images on,
  # the 4 images a verdict needs fit within half; a smaller curve pays for
  # those 4 all the same.
  if num_curve_images < 20:
    assert plan.num_images == accuracy_lib.MIN_CHECK_IMAGES
    assert plan.cost_fraction > 0.5
  else:
    assert plan.cost_fraction <= 0.5
  # Without a target nothing is judged: the cost rule alone, from 1 image.
  unjudged = accuracy_lib.plan_check(
      'mse', schedule, num_curve_images, chains,
      tfrd.AccuracySettings(target_gap=None))
  assert 1 <= unjudged.num_images <= plan.num_images
  if num_curve_images >= 5:
    assert unjudged.cost_fraction <= 0.5
  else:
    assert unjudged.num_images == 1
    # ... and the largest number that stays within it, up to the cap.
    more = accuracy_lib.check_decoder_gradients(
        schedule, plan.betas, plan.num_images + 1, chains)
    assert (plan.num_images == accuracy_lib.MAX_AUTO_IMAGES or
            more > 0.5 * plan.curve_decoder_gradients)
  # Asked for by number: as asked, whatever it costs.
  asked = accuracy_lib.plan_check('mse', schedule, num_curve_images, chains,
                                  tfrd.AccuracySettings(num_images=11))
  assert asked.num_images == 11
  off = accuracy_lib.plan_check('mse', schedule, num_curve_images, chains,
                                tfrd.AccuracySettings(betas=()))
  assert off.betas.size == 0 and off.decoder_gradients == 0


def test_the_planned_cost_is_what_the_runs_report():
  accuracy = tfrd.AccuracySettings(betas=(1.0, 10.0), target_gap=None,
                                   num_images=2)
  curve = accuracy_lib.estimate_rd_curve_checked(
      _decoder, _images(3), 'mse', _SCHEDULE, prior=_PRIOR, chains=_CHAINS,
      accuracy=accuracy)
  schedule = tfrd.schedule_from_settings(_SCHEDULE)
  plan = accuracy_lib.plan_check('mse', schedule, 3, _CHAINS, accuracy,
                                 latent_dim=3)
  reported = curve.accuracy
  assert reported['check_decoder_gradients'] == plan.decoder_gradients
  assert reported['curve_decoder_gradients'] == plan.curve_decoder_gradients
  # The Hessian mass matrix's rows (tfrd's default kernel): each forward
  # run's anchors, 4 chains × D rows per image, counted as 2 gradients.
  full = accuracy_lib.schedule_holding(schedule, plan.betas)
  hessian_rows = 0
  for beta in plan.betas:
    truncated = tfrd.bdmc.truncate_schedule(full, beta)
    anchors = preconditioning.anchor_chunks(
        truncated.betas[tfrd.ais.chunk_boundaries(truncated)]).size
    hessian_rows += -(-preconditioning.hessian_gradients_per_image(
        anchors, 3, 4) // 4)
  assert hessian_rows > 0
  transitions_only = accuracy_lib.plan_check('mse', schedule, 3, _CHAINS,
                                             accuracy)
  assert plan.decoder_gradients == (transitions_only.decoder_gradients +
                                    2 * 4 * hessian_rows)
  # The curve's own count, from the passes it made, and its anchors'.
  assert plan.curve_decoder_gradients == 3 * 4 * (2 * (
      1 + schedule.num_transitions * 3) + tfrd.ais.hessian_decoder_gradients(
          schedule, 3, _CHAINS))
  assert [point['beta'] for point in curve.bdmc] == plan.betas.tolist()
  for point in curve.bdmc:
    assert np.isfinite(point['mean_gap']) and point['num_images'] == 2
    assert point['gap_stderr'] > 0
  assert reported['target_gap'] is None and reported['within_target'] is None
  assert 'upper bound' in reported['explanation']


# The searches check beta_max alone: a third of the runs of the default
# points, and the point whose gap needs the longer schedule.
_TOP = tfrd.AccuracySettings(betas=(10.0,), target_gap=0.6, num_images=4,
                             max_num_intermediate=40 * 64)


@pytest.fixture(scope='module')
def search(tmp_path_factory):
  record = tmp_path_factory.mktemp('search') / 'search.json'
  return accuracy_lib.settle_schedule(
      _decoder, 'mse', _SCHEDULE, _PRIOR, _CHAINS, _TOP, 3,
      record_path=str(record)), record


def test_a_short_schedule_is_lengthened_until_the_gaps_meet_the_target(
    search):
  search, _ = search
  attempts = search.attempts
  first = attempts[0]
  assert first['num_intermediate'] == 40 and not first['within_target']
  assert max(p['mean_gap'] for p in first['points']) > 0.6
  assert len(attempts) >= 2
  # The search's own attempts (images from 0) double; a verdict on fresh
  # images that missed the target is kept among them, and the search goes
  # on from it to a longer schedule.
  tried = [attempt for attempt in attempts if not attempt['first_image']]
  for earlier, later in zip(tried, tried[1:]):
    factor = later['num_intermediate'] // earlier['num_intermediate']
    assert factor >= 2 and factor & (factor - 1) == 0  # a power of two
    assert later['min_before_first'] == earlier['min_before_first'] * factor
  for verdict, later in zip(attempts, attempts[1:]):
    if verdict['first_image']:
      assert not verdict['within_target']
      assert later['num_intermediate'] > verdict['num_intermediate']
  assert search.status == 'met' and attempts[-1]['within_target']
  # Met beyond the noise: every mean gap plus two standard errors.
  assert all(p['mean_gap'] + 2 * p['gap_stderr'] <= 0.6
             for p in attempts[-1]['points'])
  assert search.schedule_settings.num_intermediate == (
      attempts[-1]['num_intermediate'])
  assert search.schedule.num_transitions == attempts[-1]['num_transitions']
  # The RD points stay where they were.
  first_schedule = tfrd.schedule_from_settings(_SCHEDULE)
  np.testing.assert_array_equal(
      search.schedule.betas[search.schedule.rd_indices],
      first_schedule.betas[first_schedule.rd_indices])


def test_the_search_re_spaces_its_schedules_by_the_measured_speed(search):
  search, _ = search
  speed = search.speed
  # Measured once, on simulated images after the search's and the
  # verification's, at the first schedule's chunk ends (its RD points
  # among them).
  assert min(speed['image_indices']) >= 2 * 4
  first = tfrd.schedule_from_settings(_SCHEDULE)
  np.testing.assert_array_equal(
      speed['betas'], first.betas[tfrd.ais.chunk_boundaries(first)])
  assert len(speed['variances']) == len(speed['betas'])
  assert all(variance >= 0 for variance in speed['variances'])
  geometric = tfrd.schedule_from_settings(search.schedule_settings)
  expected = tfrd.schedules.thermodynamic_schedule(
      geometric, speed['betas'], speed['variances'],
      accuracy_lib.SCHEDULE_BASE_SHARE)
  np.testing.assert_array_equal(search.schedule.betas, expected.betas)
  assert not np.array_equal(search.schedule.betas, geometric.betas)
  # Without adaptation the search keeps the geometric schedule.
  plain = accuracy_lib.settle_schedule(
      _decoder, 'mse', search.schedule_settings, _PRIOR, _CHAINS,
      _TOP._replace(adapt_schedule=False), 3)
  assert plain.speed is None
  np.testing.assert_array_equal(plain.schedule.betas, geometric.betas)


def test_the_check_costs_the_whole_search_and_says_when_it_outgrows_the_curve(
    search):
  search, _ = search
  attempts = search.attempts
  assert len(attempts) >= 2
  # The speed measurement re-spaced every schedule; its one adaptive pass
  # costs what the plan's rule says such a pass costs.
  speed = search.speed
  adaptive = _CHAINS._replace(hmc=_CHAINS.hmc._replace(
      step_size_mode='adaptive'))
  assert speed['decoder_gradients'] == accuracy_lib.curve_decoder_gradients(
      tfrd.schedule_from_settings(_SCHEDULE), len(speed['image_indices']),
      adaptive, latent_dim=3)
  total = sum(attempt['decoder_gradients']
              for attempt in attempts + [search.verification, speed])
  assert search.decoder_gradients == total > attempts[-1]['decoder_gradients']
  curve_gradients = attempts[-1]['curve_decoder_gradients']
  assert search.cost_fraction == pytest.approx(total / curve_gradients)
  plan = accuracy_lib.plan_check('mse', search.schedule, 3, _CHAINS, _TOP,
                                 latent_dim=3)
  assert plan.curve_decoder_gradients == curve_gradients
  described = accuracy_lib.describe(_curve([0.6] * 4, [3.0] * 4), plan,
                                    search.check, search, _TOP.target_gap)
  assert described['check_decoder_gradients'] == total
  assert described['settled_check_decoder_gradients'] == (
      search.verification['decoder_gradients'])
  assert described['check_cost_fraction'] == pytest.approx(
      search.cost_fraction)
  # 4 simulated images against a curve of 3: the check outgrows the curve,
  # and a warning says so rather than the cost passing silently.
  assert total > curve_gradients
  (warning,) = [w for w in described['warnings']
                if w.startswith('The accuracy check cost')]
  assert f'{total:,} decoder gradients over {len(attempts) + 2} measurements' \
      in warning
  assert accuracy_lib.cost_warnings(10, 10) == []


def test_the_settled_schedule_is_checked_again_on_fresh_images(search):
  # The attempt that stopped the search was chosen for meeting the target;
  # the curve's check is the settled schedule measured on 4 images no
  # measurement used (the k-th verdict on images 4k to 4k + 3, after the
  # search's 4), not that attempt again.
  search, _ = search
  last, fresh = search.attempts[-1], search.verification
  assert fresh['num_intermediate'] == last['num_intermediate']
  verdicts = [attempt['first_image'] for attempt in search.attempts
              if attempt['first_image']] + [fresh['first_image']]
  assert verdicts == [4 * (k + 1) for k in range(len(verdicts))]
  assert last['first_image'] == 0
  assert [p['num_images'] for p in fresh['points']] == [4]
  assert search.check == fresh['points']
  assert fresh['points'][0]['mean_gap'] != last['points'][0]['mean_gap']
  assert fresh['within_target'] == all(
      accuracy_lib.within_target(p, _TOP.target_gap) for p in fresh['points'])
  assert fresh['decoder_gradients'] == last['decoder_gradients']


def test_a_resumed_search_reuses_what_it_measured(search, monkeypatch):
  search, record = search
  saved = json.loads(record.read_text())
  assert saved['status'] == 'met'
  assert len(saved['attempts']) == len(search.attempts)

  def no_runs(*args, **kwargs):
    raise AssertionError('measured again')

  monkeypatch.setattr(tfrd.bdmc, 'bdmc_at_points', no_runs)
  monkeypatch.setattr(tfrd.bdmc, 'bdmc_on_images', no_runs)
  monkeypatch.setattr(accuracy_lib, 'measure_speed', no_runs)
  again = accuracy_lib.settle_schedule(
      _decoder, 'mse', _SCHEDULE, _PRIOR, _CHAINS, _TOP, 3,
      record_path=str(record))
  assert again.attempts == search.attempts
  assert again.verification == search.verification
  assert again.speed == search.speed
  np.testing.assert_array_equal(again.schedule.betas, search.schedule.betas)
  # Another seed is another search: the record is not reused.
  with pytest.raises(AssertionError, match='measured again'):
    accuracy_lib.settle_schedule(
        _decoder, 'mse', _SCHEDULE, _PRIOR, _CHAINS._replace(seed=4), _TOP, 3,
        record_path=str(record))


@pytest.mark.slow  # a search and a curve; test_curve_run covers the app's
def test_the_checked_curve_runs_on_the_settled_schedule_and_saves_it(
    tmp_path):
  # A target no schedule meets within a cap of twice the first: the search
  # stops at the cap, keeps the longest schedule tried, and says so.
  accuracy = _TOP._replace(target_gap=1e-6, max_num_intermediate=40 * 2)
  curve = accuracy_lib.estimate_rd_curve_checked(
      _decoder, _images(3), 'mse', _SCHEDULE, prior=_PRIOR, chains=_CHAINS,
      accuracy=accuracy)
  search = curve.accuracy['search']
  assert search['status'] == 'capped'
  assert [a['num_intermediate'] for a in search['attempts']] == [40, 80]
  assert search['settled_num_intermediate'] == 80
  settled = tfrd.schedule_from_settings(accuracy_lib.lengthened(_SCHEDULE, 2))
  assert curve.config['num_transitions'] == settled.num_transitions
  assert curve.accuracy['within_target'] is False
  (warning,) = [w for w in curve.accuracy['warnings'] if 'cap' in w]
  assert 'not met within the cap' in warning
  assert '--num_intermediate=80' in warning
  assert curve.accuracy['check_cost_fraction'] == pytest.approx(
      curve.accuracy['check_decoder_gradients'] /
      curve.accuracy['curve_decoder_gradients'])
  # The check is the search's verification on fresh images, not measured
  # again after the curve.
  assert [p['mean_gap'] for p in curve.bdmc] == list(
      search['verification']['gaps'].values())
  curve.save(str(tmp_path))
  loaded = tfrd.RDCurve.load(str(tmp_path))
  assert loaded.accuracy == json.loads(json.dumps(curve.accuracy))
  assert loaded.bdmc == json.loads(json.dumps(curve.bdmc))


def _point(mean_gap, gap_stderr, num_images=4, beta=10.0):
  return {'beta': beta, 'mean_gap': mean_gap, 'gap_stderr': gap_stderr,
          'num_images': num_images, 'max_gap': mean_gap}


def test_a_target_is_met_beyond_two_standard_errors_on_four_images():
  # A mean gap at 0.8 of the target is not "met" while its noise reaches
  # past it: mean + 2 s.e. must be within.
  assert not accuracy_lib.within_target(_point(0.4, 0.1), 0.5)
  assert accuracy_lib.within_target(_point(0.3, 0.1), 0.5)
  assert accuracy_lib.judged_gap(_point(0.4, 0.1)) == pytest.approx(0.6)
  # Three images, or no standard error, judge nothing.
  assert not accuracy_lib.within_target(_point(0.1, 0.01, num_images=3), 0.5)
  assert not accuracy_lib.within_target(_point(0.1, None), 0.5)
  # The search's next length is predicted from the judged gap: 1.9 + 2 *
  # 0.6 = 3.1 times the target asks for 4 times the schedule, not 2.
  assert accuracy_lib._next_factor([_point(1.9, 0.6)], 1.0) == 4  # pylint: disable=protected-access
  # Asked for by number, fewer images than a verdict needs are refused
  # with a target, and allowed without one.
  with pytest.raises(ValueError, match='at least 4'):
    tfrd.AccuracySettings(num_images=3, target_gap=1.0)
  assert tfrd.AccuracySettings(num_images=3, target_gap=None).num_images == 3


def test_the_warnings_and_the_verdict_agree():
  # A point within the target by its mean but not beyond its noise: the
  # verdict says not met, and so does a warning naming mean + 2 s.e.
  points = [_point(0.45, 0.1)]
  (warning,) = accuracy_lib.gap_warnings(points, 0.5)
  assert warning.startswith('The target gap of 0.5 nats is not met: BDMC '
                            'gap 0.45 ± 0.1 nats at beta 10')
  assert 'mean + 2 s.e. 0.65' in warning
  assert accuracy_lib.gap_warnings([_point(0.2, 0.1)], 0.5) == []
  (few,) = accuracy_lib.gap_warnings([_point(0.2, 0.1, num_images=2)], 0.5)
  assert 'fewer than the 4 a verdict needs' in few


def _curve(accept_rate, effective_sample_size):
  betas = np.array([0.1, 1.0, 10.0, 100.0])
  values = np.ones([4, 2])
  return tfrd.RDCurve(
      betas, values, values, values,
      np.broadcast_to(np.asarray(effective_sample_size, float)[:, None],
                      (4, 2)),
      config={'num_chains': 8},
      run=tfrd.RunRecord(accept_rate=np.asarray(accept_rate, float)))


def test_warnings_name_where_the_chains_went_wrong_and_what_to_try():
  healthy = _curve([0.6, 0.65, 0.7, 0.6], [7.0, 5.0, 3.0, 2.0])
  assert accuracy_lib.run_warnings(healthy) == []
  sick = _curve([0.6, 0.65, 0.1, 0.05], [7.0, 5.0, 1.2, 1.0])
  accept, ess = accuracy_lib.run_warnings(sick)
  assert accept.startswith('HMC acceptance below 0.25 at 2 RD point(s), '
                           'beta 10 to 100')
  assert 'leapfrog' in accept
  assert ess.startswith('The AIS weights collapsed (median effective sample '
                        'size <= 1.5 of 8 chains) at 2 RD point(s), beta 10 '
                        'to 100')
  assert '--num_chains' in ess and '--target_gap' in ess
  eager = _curve([0.99, 0.65, 0.6, 0.6], [7.0, 5.0, 3.0, 2.0])
  (high,) = accuracy_lib.run_warnings(eager)
  assert high.startswith('HMC acceptance above 0.95 at 1 RD point(s), beta '
                         '0.1 to 0.1')


def test_a_loose_curve_says_so_without_a_target():
  points = [{'beta': 1.0, 'mean_gap': 0.2, 'gap_stderr': 0.1},
            {'beta': 1000.0, 'mean_gap': 3.7, 'gap_stderr': 1.2}]
  (warning,) = accuracy_lib.gap_warnings(points)
  assert warning.startswith('The curve is loose: BDMC gap 3.7 ± 1.2 nats at '
                            'beta 1000')
  assert accuracy_lib.gap_warnings(points[:1]) == []


def _one_image_result(num_chains):
  """A BDMCResult of one simulated image with `num_chains` chains."""
  lower = np.array([-100.0])
  estimate = tfrd.estimators.RDEstimate(lower, np.zeros(1), np.zeros(1),
                                        np.array([num_chains / 2]))
  forward = tfrd.ais.AISRun(np.array([1.0]), [estimate], None,
                            np.array([0.6]), None, 10, False, {})
  return tfrd.bdmc.BDMCResult(
      beta=1.0, lower=lower, upper=lower + 0.05, gap=np.array([0.05]),
      forward=forward,
      reverse_log_weights=np.log(np.arange(1.0, num_chains + 1))[None],
      reverse_accept_rate=0.6, num_transitions=10, num_decoder_gradients=10,
      wall_time_s={}, simulated=None)


def test_a_missing_standard_error_is_null_not_zero(tmp_path, capsys):
  # pylint: disable=g-import-not-at-top
  from pipelines import bdmc_points
  from tfrd import plotting
  # pylint: enable=g-import-not-at-top
  chains = _CHAINS._replace(num_chains=1)
  record = accuracy_lib.point_record(_one_image_result(1), chains, True)
  # One image and one chain: no spread of either kind exists.
  assert record['gap_stderr'] is None
  assert record['gap_stderr_images'] is None
  assert record['gap_stderr_chains'] is None
  assert '"gap_stderr": null' in json.dumps(record)
  # One image of several chains has the chains' standard error.
  several = accuracy_lib.point_record(_one_image_result(4), _CHAINS, True)
  assert several['gap_stderr'] == several['gap_stderr_chains'] > 0
  assert several['gap_stderr_images'] is None
  # Readers cope: the verdict, the warnings, curve.json, the table.
  assert not accuracy_lib.within_target(record, 10.0)
  curve = _curve([0.6] * 4, [3.0] * 4)
  plan = accuracy_lib.CheckPlan(np.array([1.0]), 1, 10, 100)
  curve.bdmc = [record]
  curve.accuracy = accuracy_lib.describe(curve, plan, [record], None, 0.01)
  assert curve.accuracy['gaps'][0]['gap_stderr'] is None
  (warning,) = accuracy_lib.gap_warnings([record], 0.01)
  assert 'BDMC gap 0.05 nats at beta 1 on 1 simulated image(s)' in warning
  curve.save(str(tmp_path))
  saved = json.loads((tmp_path / 'curve.json').read_text())
  assert saved['bdmc'][0]['gap_stderr'] is None
  assert saved['accuracy']['gaps'][0]['gap_stderr'] is None
  bdmc_points.print_accuracy(curve.accuracy)
  assert '     n/a' in capsys.readouterr().out
  # A one-image record of an older version wrote 0.0 where none existed.
  assert plotting.recorded_gap_stderr(
      {'gap_stderr': 0.0, 'num_images': 1}) is None
  assert plotting.recorded_gap_stderr(several) == several['gap_stderr']


def test_the_check_says_what_it_bounds_and_what_it_indicates():
  # It bounds the gap on images simulated from the decoder; on the user's
  # own images it is an indication: every text the user reads says so.
  # pylint: disable=g-import-not-at-top
  import types
  from tfrd import plotting
  # pylint: enable=g-import-not-at-top
  explanation = accuracy_lib.EXPLANATION
  assert 'images simulated from the decoder' in explanation
  assert 'indication, not a bound' in explanation
  assert 'does not bracket your curve' in explanation
  (loose,) = accuracy_lib.gap_warnings([_point(3.7, 1.2, beta=1000.0)])
  assert 'on images simulated from the decoder, which indicates' in loose
  (missed,) = accuracy_lib.gap_warnings([_point(0.45, 0.1)], 0.5)
  assert 'an indication for your images' in missed
  # The figure's legend names the gaps' bars for what they are.
  curve = types.SimpleNamespace(
      betas=np.array([0.1, 1.0, 10.0]), rate=np.array([1.0, 5.0, 9.0]),
      distortion=np.array([3.0, 1.0, 0.2]), bdmc=[_point(0.3, 0.1)])
  figure = plotting.curves_figure({'AIS': curve})
  legend = [text.get_text()
            for text in figure.axes[0].get_legend().get_texts()]
  assert plotting.GAP_LEGEND in legend
  assert 'an indication for these images' in plotting.GAP_LEGEND
  plain = plotting.curves_figure({'AIS': types.SimpleNamespace(
      betas=curve.betas, rate=curve.rate, distortion=curve.distortion)})
  assert [text.get_text()
          for text in plain.axes[0].get_legend().get_texts()] == ['AIS']


def test_the_search_reach_is_every_doubling_the_fresh_check_and_the_curve(
    search):
  # The most a search and its curve can cost, before either starts: the
  # check at every doubling up to the cap (here 40 to 320; 639 admits no
  # 640), the fresh check and the curve at the longest, and the signal's
  # forward run of the user's images (3 here) on the schedule before it.
  accuracy = _TOP._replace(max_num_intermediate=639)
  reach = accuracy_lib.search_reach('mse', _SCHEDULE, 3, _CHAINS, accuracy,
                                    latent_dim=3)
  assert reach.target_gap == 0.6
  assert reach.num_intermediates == (40, 80, 160, 320)

  def schedule(factor):
    return tfrd.schedule_from_settings(accuracy_lib.lengthened(_SCHEDULE,
                                                               factor))

  plans = [accuracy_lib.plan_check('mse', schedule(factor), 3, _CHAINS,
                                   accuracy, latent_dim=3)
           for factor in (1, 2, 4, 8)]
  # The speed measurement: one adaptive pass of the first check's images
  # on the first schedule.
  speed = accuracy_lib.curve_decoder_gradients(
      schedule(1), plans[0].num_images, _CHAINS._replace(
          hmc=_CHAINS.hmc._replace(step_size_mode='adaptive')), 3)
  assert reach.speed_decoder_gradients == speed > 0
  assert reach.decoder_gradients == (
      plans[0].decoder_gradients + plans[1].decoder_gradients +
      plans[2].decoder_gradients + plans[3].decoder_gradients +
      plans[3].decoder_gradients + plans[3].curve_decoder_gradients +
      accuracy_lib.curve_decoder_gradients(schedule(4), 3, _CHAINS, 3) +
      speed)
  # At least: the first schedule met, checked twice, its curve, the
  # signal on it halved and the speed measurement.
  halved = tfrd.schedule_from_settings(accuracy_lib.halved(_SCHEDULE))
  assert reach.least_decoder_gradients == (
      2 * plans[0].decoder_gradients + plans[0].curve_decoder_gradients +
      accuracy_lib.curve_decoder_gradients(halved, 3, _CHAINS, 3) + speed)
  assert accuracy_lib.search_reach(
      'mse', _SCHEDULE, 3, _CHAINS, accuracy._replace(adapt_schedule=False),
      latent_dim=3).speed_decoder_gradients == 0
  # A cap below the first schedule's double: that schedule alone.
  lone = accuracy_lib.search_reach('mse', _SCHEDULE, 3, _CHAINS,
                                   accuracy._replace(max_num_intermediate=79),
                                   latent_dim=3)
  assert lone.num_intermediates == (40,)
  assert lone.decoder_gradients == lone.least_decoder_gradients
  # The schedules a search tried are among those its reach names.
  search, _ = search
  assert {attempt['num_intermediate'] for attempt in search.attempts} <= set(
      accuracy_lib.search_reach('mse', _SCHEDULE, 3, _CHAINS, _TOP)
      .num_intermediates)


def test_a_schedule_that_may_not_grow_is_checked_as_given_and_warned():
  # A schedule its user set: the target judges it, after the curve, and a
  # miss is a warning saying so; nothing lengthens it.
  accuracy = _TOP._replace(grow_schedule=False)
  with pytest.raises(ValueError, match='grow_schedule=False'):
    accuracy_lib.settle_schedule(_decoder, 'mse', _SCHEDULE, _PRIOR, _CHAINS,
                                 accuracy, 3)
  with pytest.raises(ValueError, match='grow_schedule must be True or False'):
    tfrd.AccuracySettings(grow_schedule='no')
  curve = accuracy_lib.estimate_rd_curve_checked(
      _decoder, _images(3), 'mse', _SCHEDULE, prior=_PRIOR, chains=_CHAINS,
      accuracy=accuracy)
  assert curve.config['num_transitions'] == tfrd.schedule_from_settings(
      _SCHEDULE).num_transitions
  described = curve.accuracy
  assert 'search' not in described and 'user_images' not in described
  assert described['schedule_as_set'] is True
  # The first schedule's gap at beta 10 is above 0.6 nats (the search above
  # lengthens it): not met, and the warning says why it stayed as it is.
  assert described['within_target'] is False
  (warning,) = [w for w in described['warnings']
                if w.startswith('The target gap of 0.6 nats is not met')]
  assert 'The schedule was set explicitly, so it was checked against the ' \
         'target, not lengthened to meet it' in warning
  # Without the flag, the same miss says nothing of a schedule as set.
  (plain,) = accuracy_lib.gap_warnings(curve.bdmc, 0.6)
  assert 'set explicitly' not in plain


def _rd_curve(log_z, image_indices):
  betas = np.array([0.1, 1.0, 10.0, 100.0])
  log_z = np.asarray(log_z, np.float64)
  return tfrd.RDCurve(betas, log_z, log_z, log_z, image_indices=image_indices)


def test_the_change_on_your_images_is_paired_at_the_points_checked():
  # Per image, settled minus earlier log Z-hat, matched by image index (the
  # earlier run holds some of the curve's images); each checked beta takes
  # the RD point nearest in log beta (1.2 is 1's, 40 is 100's).
  settled = np.arange(12.0).reshape(4, 3)  # images 5, 6, 7
  earlier = settled[:, [2, 0]] - np.array([[0.0, 0.0], [0.5, 0.1],
                                           [0.0, 0.0], [2.0, 1.0]])
  curve = _rd_curve(settled, [5, 6, 7])
  points = accuracy_lib.user_image_change(curve, _rd_curve(earlier, [7, 5]),
                                          [1.0, 1.2, 40.0])
  assert [point['beta'] for point in points] == [1.0, 100.0]
  assert points[0]['checked_betas'] == [1.0, 1.2]
  assert points[1]['checked_betas'] == [40.0]
  assert points[0]['changes'] == pytest.approx([0.5, 0.1])
  assert points[0]['mean_change'] == pytest.approx(0.3)
  # The standard error of the mean over the images: s / sqrt(2).
  assert points[0]['stderr'] == pytest.approx(np.std([0.5, 0.1], ddof=1) /
                                              np.sqrt(2))
  assert points[1]['mean_change'] == pytest.approx(1.5)
  assert points[1]['mean_log_z'] == pytest.approx((11.0 + 9.0) / 2)
  # One image has no standard error.
  (one,) = accuracy_lib.user_image_change(
      curve, _rd_curve(earlier[:, :1], [7]), [1.0])
  assert one['stderr'] is None and one['changes'] == pytest.approx([0.5])
  with pytest.raises(ValueError, match=r'Images \[9\]'):
    accuracy_lib.user_image_change(curve, _rd_curve(earlier, [7, 9]), [1.0])
  other = tfrd.RDCurve(np.array([0.1, 1.0, 10.0, 50.0]), earlier, earlier,
                       earlier, image_indices=[7, 5])
  with pytest.raises(ValueError, match='different RD points'):
    accuracy_lib.user_image_change(curve, other, [1.0])


def test_the_signal_runs_your_first_images_again_on_the_step_before():
  # The settled schedule twice the first: with two attempts, the step is
  # from the first; with one, from the settled schedule halved, which is
  # the same schedule here, said to be halved.
  settled = accuracy_lib.lengthened(_SCHEDULE, 2)
  attempts = [{'num_intermediate': s.num_intermediate,
               'min_before_first': s.min_before_first,
               'min_between': s.min_between} for s in (_SCHEDULE, settled)]
  step = accuracy_lib.schedule_step(settled, attempts)
  assert step == (_SCHEDULE, settled, False, None)
  lone = accuracy_lib.schedule_step(settled, attempts[1:])
  assert lone == (_SCHEDULE, settled, True, None)
  assert accuracy_lib.schedule_step(
      settled._replace(num_intermediate=1), attempts[:1]) is None
  images = _images(5)
  curve = tfrd.estimate_rd_curve(
      _decoder, images, 'mse', tfrd.schedule_from_settings(settled),
      latent_dim=3, prior=_PRIOR, chains=_CHAINS,
      image_indices=np.arange(10, 15))
  record = accuracy_lib.measure_user_images(
      _decoder, images, 'mse', curve, lone, _PRIOR, _CHAINS, [1.0, 10.0])
  # The first 4 of the curve's 5 images, by their indices.
  assert record['images'] == [10, 11, 12, 13]
  assert record['schedules'] == [40, 80] and record['halved'] is True
  assert record['previous_schedule'] == {
      'num_intermediate': 40, 'min_before_first': 10, 'min_between': 2}
  assert record['num_transitions'] == [
      tfrd.schedule_from_settings(_SCHEDULE).num_transitions,
      curve.config['num_transitions']]
  assert record['decoder_gradients'] == accuracy_lib.curve_decoder_gradients(
      tfrd.schedule_from_settings(_SCHEDULE), 4, _CHAINS, 3)
  assert [point['beta'] for point in record['points']] == [1.0, 10.0]
  for point in record['points']:
    assert len(point['changes']) == 4 and point['stderr'] > 0
  assert 'indication, not a bound' in record['explanation']
  # Paired: the same images, seed and chains as the curve's, so on the
  # settled schedule itself the change is exactly nothing.
  same = accuracy_lib.measure_user_images(
      _decoder, images, 'mse', curve, step._replace(previous=settled),
      _PRIOR, _CHAINS, [1.0, 10.0])
  for point in same['points']:
    assert point['changes'] == [0.0] * 4
  # Its run is part of the check's cost, and of the cost warning's count.
  described = {'check_decoder_gradients': 1000,
               'curve_decoder_gradients': 100, 'warnings': [
                   'HMC acceptance below 0.25'] + accuracy_lib.cost_warnings(
                       1000, 100, 3),
               'search': {'attempts': [{}, {}], 'verification': {}}}
  added = accuracy_lib.add_user_images(described, record)
  total = 1000 + record['decoder_gradients']
  assert added['check_decoder_gradients'] == total
  assert added['check_cost_fraction'] == pytest.approx(total / 100)
  assert added['warnings'][0] == 'HMC acceptance below 0.25'
  (cost,) = added['warnings'][1:]
  assert f'{total:,} decoder gradients over 4 measurements' in cost
  assert added['user_images'] == record
  # Added again, it replaces itself.
  assert accuracy_lib.add_user_images(added, record) == added
