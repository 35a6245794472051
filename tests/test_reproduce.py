"""apps.reproduce end to end: every figure at --budget=smoke, reuse on a
second invocation, and bad input refused before any work."""

import dataclasses
import json
import math
import os

import pytest

from pipelines import settings as pipeline_settings
from pipelines import reproduce as figures

import app_runner  # pylint: disable=g-bad-import-order

_FIGURES = list(figures.FIGURES)


def _run(*args):
  return app_runner.run_app('apps.reproduce', *args)


def _refused(result, message):
  assert result.returncode == 2, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if 'error' in line]
  assert len(errors) == 1, result.stderr[-3000:]
  assert errors[0].startswith('reproduce: error: ')
  assert message in errors[0]


def _results(directory, figure):
  with open(os.path.join(directory, figure, 'results.json')) as stream:
    return json.load(stream)


def _check_results(document, figure):
  assert document['format'] == figures.FORMAT
  assert document['figure'] == figure
  assert document['budget'] == 'smoke'
  assert document['budget_settings'] == json.loads(
      json.dumps(figures.BUDGETS['smoke']))
  assert document['wall_time_s'] > 0
  specs = figures.FIGURES[figure].curves(figures.BUDGETS['smoke'])
  assert [curve['name'] for curve in document['curves']] == [
      spec.name for spec in specs]
  for spec, curve in zip(specs, document['curves']):
    assert curve['num_images'] == 4 and curve['num_chains'] == 4
    assert curve['seed'] == spec.seed
    assert curve['hmc']['num_leapfrog_steps'] == 3
    if spec.likelihood_factor:
      _check_likelihood_run(document, spec, curve)
    else:
      assert curve['schedule']['num_intermediate'] == 60
    assert curve['wall_time_s'] > 0
    assert curve['model']['family'] == spec.model.family
    assert curve['model']['code_size'] == spec.model.code_size
    assert curve['model'] == document['models'][spec.model.name]['settings']
    if spec.model.family != 'linear':
      assert curve['model']['depth'] == spec.model.depth
      assert curve['model']['epochs'] == 1
      assert curve['model']['num_train'] == 256
      assert curve['model']['width'] == 32
    for point in curve['points']:
      assert math.isfinite(point['rate']) and math.isfinite(
          point['distortion']), (spec.name, point)
    if not spec.likelihood_factor:
      assert len(curve['points']) == 5
      assert curve['points'][-1]['beta'] == 100.0
    # The per-image values are the points' means (apps.findings pairs them).
    per_image = curve['per_image']
    assert len(per_image['image_indices']) == 4
    for name in ('rate', 'distortion', 'log_z'):
      means = [sum(row) / len(row) for row in per_image[name]]
      assert means == pytest.approx([p[name] for p in curve['points']])
  assert document['work_time_s'] >= sum(c['wall_time_s']
                                        for c in document['curves'])
  return specs


def _check_likelihood_run(document, spec, curve):
  """fig5a's log-likelihood run: it ends at beta = 1, with `factor` times
  the transitions its figure's own curve takes to reach beta = 1."""
  twin = dataclasses.replace(spec, likelihood_factor=0)
  schedule, _ = figures.curve_schedule(
      figures.BUDGETS['smoke'], twin, document['models'][spec.model.name])
  reaching_one = sum(1 for beta in list(schedule.betas)[1:] if beta <= 1.0)
  assert 0 < reaching_one < 60
  assert curve['schedule']['beta_max'] == 1.0
  assert curve['schedule']['num_intermediate'] == (
      spec.likelihood_factor * reaching_one)
  assert curve['points'][-1]['beta'] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize('figure', _FIGURES)
def test_figure_smoke_then_reused(figure, tmp_path):
  output_dir = str(tmp_path / 'out')
  result = _run(f'--figure={figure}', '--budget=smoke',
                f'--output_dir={output_dir}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert os.path.getsize(os.path.join(output_dir, figure, 'figure.png')) > 0
  document = _results(output_dir, figure)
  specs = _check_results(document, figure)
  assert f'{figure}: curve {len(specs)} of {len(specs)}, ' in result.stderr
  if figure == 'fig7':
    for name in ('mse', 'gaussian_nll'):
      exact = document['exact'][name]
      assert all(math.isfinite(v) for v in exact['rate_exact'])
      assert len(exact['rate_exact']) == 5
  else:
    assert 'train: epoch 1/1 done' in result.stderr
  if figure == 'fig8':
    assert [c['step_sizes_from'] for c in document['curves']] == [
        None] + ['preliminary'] * (len(specs) - 1)
    assert document['curves'][0]['hmc']['step_size_mode'] == 'adaptive'
    assert {c['hmc']['step_size_mode']
            for c in document['curves'][1:]} == {'table'}
  if figure == 'fig5a':
    alphas = figures.BUDGETS['smoke']['fig5a_alphas']
    # The curves, then alpha = 0 and the largest alpha again to beta = 1.
    assert [c['prior'] for c in document['curves']] == ['normal'] + [
        f'mixture:{alpha:g}' for alpha in alphas] + [
            'normal', f'mixture:{alphas[-1]:g}']
    assert [s.likelihood_factor for s in specs] == [0] * (
        len(alphas) + 1) + [2, 2]
    for curve in document['curves']:
      assert curve['distortion']['name'] == 'gaussian_nll'
      assert curve['distortion']['scale'] == pytest.approx(document[
          'models']['vae_shallow_10_seed0']['observation_scale'])
      assert math.isfinite(curve['log_likelihood'])
  if figure in ('fig4', 'fig3a', 'variants', 'lossless', 'd4'):
    # The code-size-2 curves are also summed on a grid (tfrd.quadrature).
    code_two = [s.name for s in specs if s.model.code_size == 2]
    assert sorted(document['quadrature']) == sorted(code_two)
    for name, record in document['quadrature'].items():
      assert record['num_points'] == 120**2
      betas = [p['beta'] for p in document['curves'][
          [s.name for s in specs].index(name)]['points']]
      # Only the betas where the grid converged are compared (at this
      # coarse smoke grid there may be none).
      assert set(record['converged_betas']) <= set(betas)
      if record['converged_betas']:
        assert len(record['rate_exact']) == len(record['converged_betas'])
        assert math.isfinite(record['max_rate_error_nats'])
      else:
        assert record['within_tolerance'] is None
      assert record['max_edge_log_weight'] <= 0  # a share of Z
    for name in code_two:
      assert os.path.isfile(os.path.join(output_dir, figure, 'curves', name,
                                         'quadrature.json'))
  else:
    assert 'quadrature' not in document
  if figure == 'fig6':
    classifier = document['classifier']
    assert 0.0 <= classifier['test_accuracy'] <= 1.0
    assert classifier['settings']['num_train'] == 256
    assert {c['distortion']['name'] for c in document['curves']} == {
        'features'}
    assert 'training the MNIST classifier' in result.stderr
  if figure == 'fig5b':
    assert [c['blur_sigma'] for c in document['curves']] == [0.0] + list(
        figures.BUDGETS['smoke']['fig5b_sigmas'])
  if figure == 'd4':
    import numpy as np  # pylint: disable=g-import-not-at-top
    for spec in specs:
      with np.load(os.path.join(output_dir, figure, 'curves', spec.name,
                                'reconstructions.npz')) as arrays:
        assert arrays['decoded'].shape == (3, 4, 28, 28, 1)
        assert list(arrays['betas']) == [1 / 12, 1.0, 100.0]
  if figure == 'fig9':
    for curve in document['curves']:
      assert [b['beta'] for b in curve['bdmc']] == [1.0, 100.0]
      assert all(math.isfinite(b['mean_gap']) for b in curve['bdmc'])
  # No AIS checkpoint is left behind.
  for spec in specs:
    assert not os.path.exists(os.path.join(
        output_dir, figure, 'curves', spec.name, 'checkpoint'))

  result = _run(f'--figure={figure}', '--budget=smoke',
                f'--output_dir={output_dir}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'reproduce: {figure} is finished' in result.stderr
  assert 'train:' not in result.stderr
  assert 'training the MNIST classifier' not in result.stderr
  assert 'reproduce: curve' not in result.stderr
  assert _results(output_dir, figure) == document

  # The figure made again from its reused parts (as after a change of the
  # drawing): the same document but for this invocation's own wall time.
  os.remove(os.path.join(output_dir, figure, 'results.json'))
  result = _run(f'--figure={figure}', '--budget=smoke',
                f'--output_dir={output_dir}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'transitions, ' not in result.stderr and 'train:' not in result.stderr
  remade = _results(output_dir, figure)
  assert remade.pop('wall_time_s') > 0
  assert remade == {k: v for k, v in document.items() if k != 'wall_time_s'}


@pytest.mark.slow
def test_figures_share_models(tmp_path):
  """fig8 after fig4 reuses fig4's VAE10 (models/ is shared)."""
  output_dir = str(tmp_path / 'out')
  result = _run('--figure=fig4', '--budget=smoke',
                f'--output_dir={output_dir}')
  assert result.returncode == 0, result.stderr[-3000:]
  result = _run('--figure=fig8', '--budget=smoke',
                f'--output_dir={output_dir}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'reproduce: reusing model' in result.stderr
  assert 'train:' not in result.stderr
  _check_results(_results(output_dir, 'fig8'), 'fig8')
  # fig9's curves are fig4's (same models and settings): copied, not
  # computed again; only their BDMC gaps are new.
  result = _run('--figure=fig9', '--budget=smoke',
                f'--output_dir={output_dir}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stderr.count('copying it') == 3, result.stderr[-3000:]
  assert 'transitions, ' not in result.stderr  # no AIS curve was run
  fig4 = {c['name']: c for c in _results(output_dir, 'fig4')['curves']}
  for curve in _results(output_dir, 'fig9')['curves']:
    assert curve['points'] == fig4[curve['name']]['points']
    assert curve['per_image'] == fig4[curve['name']]['per_image']
    assert [b['beta'] for b in curve['bdmc']] == [1.0, 100.0]


def test_two_runs_sharing_an_output_dir_keep_each_others_files(tmp_path):
  """Two invocations (one figure each) in one directory: each records its
  files into the manifest without dropping what the other recorded since it
  read it, or the next run would refuse those files as foreign."""
  first = figures.Run(str(tmp_path), 'smoke')
  second = figures.Run(str(tmp_path), 'smoke')
  first.record('fig7/results.json')
  second.record('fig4/results.json')
  first.record('fig7/figure.png')
  assert sorted(figures.Run(str(tmp_path), 'smoke').manifest['files']) == [
      'fig4/results.json', 'fig7/figure.png', 'fig7/results.json']
  assert sorted(os.listdir(tmp_path)) == [figures.MANIFEST]


def test_budgets_table():
  keys = set(figures.BUDGETS['smoke'])
  for name, budget in figures.BUDGETS.items():
    assert set(budget) == keys, name
  for key, value in pipeline_settings.PRESETS['paper'].items():
    assert figures.BUDGETS['paper'][key] == value, key


@pytest.mark.parametrize('args, message', [
    (('--figure=fig1', '--budget=smoke'), '--figure must be one of'),
    (('--figure=fig7', '--budget=huge'), '--budget must be one of'),
    (('--budget=smoke',), '--figure must be one of'),
])
def test_bad_flags_refused(args, message, tmp_path):
  output_dir = tmp_path / 'out'
  _refused(_run(*args, f'--output_dir={output_dir}'), message)
  assert not output_dir.exists()


def test_output_dir_file_refused(tmp_path):
  path = tmp_path / 'file'
  path.write_text('mine')
  _refused(_run('--figure=fig7', '--budget=smoke', f'--output_dir={path}'),
           'is a file')
  assert path.read_text() == 'mine'


def test_files_not_written_by_reproduce_refused(tmp_path):
  output_dir = tmp_path / 'out'
  (output_dir / 'fig7').mkdir(parents=True)
  mine = output_dir / 'fig7' / 'results.json'
  mine.write_text('{"mine": 1}')
  _refused(_run('--figure=fig7', '--budget=smoke',
                f'--output_dir={output_dir}'), '--overwrite')
  _refused(_run('--figure=all', '--budget=smoke',
                f'--output_dir={output_dir}'), 'fig7/results.json')
  assert mine.read_text() == '{"mine": 1}'
  assert sorted(os.listdir(output_dir)) == ['fig7']


def test_other_budget_refused(tmp_path):
  output_dir = tmp_path / 'out'
  output_dir.mkdir()
  (output_dir / figures.MANIFEST).write_text(json.dumps(
      {'format': figures.MANIFEST_FORMAT, 'budget': 'cpu', 'files': []}))
  _refused(_run('--figure=fig7', '--budget=smoke',
                f'--output_dir={output_dir}'), '--budget=cpu run')


@pytest.mark.slow
def test_interrupted_curve_resumes_to_the_uninterrupted_curve(tmp_path):
  """A curve stopped mid-run (SIGTERM sets the stop event) is resumed from
  its checkpoint by the next invocation and equals an uninterrupted run."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tfrd  # pylint: disable=g-import-not-at-top
  from pipelines import jobs  # pylint: disable=g-import-not-at-top
  budget = figures.BUDGETS['smoke']
  spec = figures.FIGURES['fig8'].curves(budget)[0]
  run = figures.Run(str(tmp_path / 'out'), 'smoke')
  run.check(['fig8'])
  decoder, document = figures.model_or_reuse(run, spec.model)
  stop = jobs.stop_event()
  stop.set()
  try:
    with pytest.raises(tfrd.RunInterrupted):
      figures.curve_or_reuse(run, 'fig8', spec, decoder, document)
  finally:
    stop.clear()
  checkpoint = tmp_path / 'out' / 'fig8' / 'curves' / spec.name / 'checkpoint'
  assert tfrd.checkpointing.has_checkpoint(str(checkpoint))
  assert not (checkpoint.parent / 'curve.json').exists()
  # The next invocation reads the manifest afresh and resumes.
  resumed = figures.curve_or_reuse(figures.Run(str(tmp_path / 'out'),
                                               'smoke'),
                                   'fig8', spec, decoder, document)
  assert not checkpoint.exists()
  fresh_run = figures.Run(str(tmp_path / 'fresh'), 'smoke')
  fresh = figures.curve_or_reuse(fresh_run, 'fig8', spec, decoder, document)
  np.testing.assert_array_equal(resumed.rate, fresh.rate)
  np.testing.assert_array_equal(resumed.distortion, fresh.distortion)


@pytest.mark.slow  # a smoke model trained two and a half times (10 s)
def test_a_stop_request_during_training_checkpoints_and_resumes(tmp_path):
  """The stop event is claimed for the whole run (the curves poll it), so
  training polls it too: SIGTERM stops a model's training after a step with
  a checkpoint, not at the next curve, and the next invocation resumes it
  to the weights of an uninterrupted run."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tfrd  # pylint: disable=g-import-not-at-top
  from pipelines import jobs  # pylint: disable=g-import-not-at-top
  model = figures.FIGURES['fig8'].curves(figures.BUDGETS['smoke'])[0].model
  run = figures.Run(str(tmp_path / 'out'), 'smoke')
  run.check(['fig8'])
  stop = jobs.stop_event()
  stop.set()
  try:
    with pytest.raises(tfrd.RunInterrupted) as raised:
      figures.model_or_reuse(run, model)
  finally:
    stop.clear()
  training_dir = tmp_path / 'out' / figures._model_files(model)[2]  # pylint: disable=protected-access
  assert raised.value.checkpoint_path.startswith(str(training_dir))
  assert not run.finished(figures._model_files(model)[0])  # pylint: disable=protected-access
  resumed, unused = figures.model_or_reuse(
      figures.Run(str(tmp_path / 'out'), 'smoke'), model)
  fresh, unused = figures.model_or_reuse(
      figures.Run(str(tmp_path / 'fresh'), 'smoke'), model)
  for expected, actual in zip(fresh.get_weights(), resumed.get_weights()):
    np.testing.assert_array_equal(expected, actual)


@pytest.mark.slow  # a smoke curve and its check (about 20 s)
def test_budget_curves_get_the_default_check_and_keep_it(tmp_path,
                                                         monkeypatch):
  """With the budget's 'accuracy_check' (cpu, paper), every curve gets
  the check `apps.rd_curve` gives its curves (no target: the budget's
  schedule); a reused curve keeps its gaps; fig9's plan is its budget's
  points and images."""
  import tfrd  # pylint: disable=g-import-not-at-top
  from pipelines import bdmc_points  # pylint: disable=g-import-not-at-top
  budget = dict(figures.BUDGETS['smoke'], accuracy_check=True)
  monkeypatch.setitem(figures.BUDGETS, 'smoke', budget)
  spec = figures.FIGURES['fig4'].curves(budget)[1]  # VAE10, squared error
  run = figures.Run(str(tmp_path / 'out'), 'smoke')
  run.check(['fig4'])
  decoder, document = figures.model_or_reuse(run, spec.model)
  curve = figures.curve_or_reuse(run, 'fig4', spec, decoder, document)
  assert [point['beta'] for point in curve.bdmc] == pytest.approx(
      [1 / 12, 1.0, 100.0])
  accuracy = curve.accuracy
  assert accuracy['target_gap'] is None
  # The cost rule's floor: one simulated image, though on a smoke curve of
  # 4 images it costs more than half the curve (tests/test_accuracy.py
  # checks the rule where the curve has room for it).
  assert accuracy['num_images'] == 1 and accuracy['complete']
  assert accuracy['check_decoder_gradients'] > 0
  saved = tfrd.RDCurve.load(str(tmp_path / 'out' / 'fig4' / 'curves' /
                                spec.name))
  assert saved.bdmc == curve.bdmc and saved.accuracy == accuracy

  # Reused: nothing is measured again.
  def no_measurement(*unused_args, **unused_kwargs):
    raise AssertionError('measured again')
  monkeypatch.setattr(bdmc_points, 'measure_for_curve', no_measurement)
  reused = figures.curve_or_reuse(figures.Run(str(tmp_path / 'out'), 'smoke'),
                                  'fig4', spec, decoder, document)
  assert reused.bdmc == curve.bdmc

  # Feature curves cannot simulate their data: no check, nothing measured.
  features = dataclasses.replace(spec, distortion='features')
  assert figures.check_settings(budget, features) is None
  # fig9's plan (its budget's points and images) drops the default check's
  # points of another image count instead of mixing them in.
  fig9 = figures.check_settings(budget, dataclasses.replace(spec, bdmc=True))
  assert fig9.betas == (1.0, 100.0) and fig9.num_images == 2


def test_feature_curves_use_graph_mode_only_without_a_gpu(monkeypatch):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  budget = figures.BUDGETS['cpu']
  [feature_curve] = [c for c in figures.FIGURES['fig6'].curves(budget)
                     if c.name == 'vae2']
  [pixel_curve] = [c for c in figures.FIGURES['fig4'].curves(budget)
                   if c.name == 'vae2']
  devices = {'GPU': []}
  monkeypatch.setattr(tf.config, 'list_physical_devices',
                      lambda kind=None: devices.get(kind, []))
  # No GPU: XLA's CPU convolutions are the slow part (benchmarks.
  # feature_distortion), so only the feature curves leave the budget's XLA.
  assert figures._jit_compile(budget, feature_curve) is False
  assert figures._jit_compile(budget, pixel_curve) == 'auto'
  devices['GPU'] = ['a GPU']
  assert figures._jit_compile(budget, feature_curve) == 'auto'
  smoke = figures.BUDGETS['smoke']
  assert figures._jit_compile(smoke, feature_curve) is False
  assert figures._jit_compile(smoke, pixel_curve) is False


@pytest.mark.slow  # two fig7 runs at --budget=smoke
def test_curve_of_other_settings_is_computed_again(tmp_path):
  """A finished curve whose recorded settings differ from those this code
  gives it (here: its schedule's fill, as after a change of the rules) is
  computed again, not reused; one whose settings match is reused."""
  output_dir = str(tmp_path / 'out')
  result = _run('--figure=fig7', '--budget=smoke',
                f'--output_dir={output_dir}')
  assert result.returncode == 0, result.stderr[-3000:]
  path = os.path.join(output_dir, 'fig7', 'curves', 'mse', 'curve.json')
  with open(path) as stream:
    document = json.load(stream)
  fresh_points = document['points']
  document['config']['schedule_settings']['min_between'] += 1
  document['points'] = [dict(point, rate=0.0) for point in fresh_points]
  with open(path, 'w') as stream:
    json.dump(document, stream)
  # A curve written before the mass matrix was recorded ran plain HMC, as
  # the budgets still do: reused.
  other = os.path.join(output_dir, 'fig7', 'curves', 'gaussian_nll',
                       'curve.json')
  with open(other) as stream:
    older = json.load(stream)
  assert older['config'].pop('mass_matrix') == 'identity'
  with open(other, 'w') as stream:
    json.dump(older, stream)

  result = _run('--figure=fig7', '--budget=smoke',
                f'--output_dir={output_dir}')
  assert result.returncode == 0, result.stderr[-3000:]
  mse = os.path.join(output_dir, 'fig7', 'curves', 'mse')
  assert ('reproduce: fig7: curve(s) mse missing or made with other '
          'settings than this code gives; making the figure again'
          in result.stderr)
  assert (f'reproduce: curve {mse} was computed with other '
          f'schedule_settings than this code uses; computing it again'
          in result.stderr), result.stderr[-3000:]
  assert f'reusing curve {mse}\n' not in result.stderr
  assert 'reusing curve ' + os.path.join(
      output_dir, 'fig7', 'curves', 'gaussian_nll') in result.stderr
  with open(path) as stream:
    assert json.load(stream)['points'] == fresh_points
  [curve] = [c for c in _results(output_dir, 'fig7')['curves']
             if c['name'] == 'mse']
  assert curve['points'] == fresh_points
