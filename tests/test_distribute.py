"""Curves across devices and machines (`tfrd.distribute`, --strategy).

The oracle is the single-process curve of the same seed: an image's chains
depend only on (seed, image index), so splitting the images among replicas
(two logical CPU devices) or workers (two processes on loopback ports) must
give it back, and so must a worker killed mid-run and resumed.

Logical devices can only be configured before TensorFlow initializes, so
everything that needs two of them runs in a fresh process.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfrd import distribute

import app_runner  # pylint: disable=g-bad-import-order
from app_runner import REPO
from app_runner import run_app

_RUN_FLAGS = ('--dataset=npz:{data}', '--num_images=5', '--num_chains=4',
              '--distortion=gaussian_nll', '--gaussian_scale=0.5',
              '--num_intermediate=60', '--num_rd_points=4', '--beta_max=10',
              '--min_before_first=20', '--min_between=3',
              '--leapfrog_steps=3', '--seed=3', '--bdmc_points=none')
# A longer schedule for the killed worker: about 16 chunks a pass.
_LONG_FLAGS = ('--num_intermediate=400', '--num_rd_points=6', '--beta_max=20',
               '--min_before_first=100', '--min_between=10')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp('distribute')
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(3, 24)) * 0.3
  images = rng.normal(size=(5, 3)) @ kernel + 0.4
  app_runner.save_linear_decoder(str(root / 'linear.keras'), kernel, 0.4)
  np.savez(root / 'images.npz', x=images.astype(np.float32))
  return {'model': str(root / 'linear.keras'),
          'data': str(root / 'images.npz'), 'root': root}


def _flags(files, *extra):
  return [f'--model={files["model"]}',
          *(flag.format(data=files['data']) for flag in _RUN_FLAGS), *extra]


def _points(output_dir):
  with open(os.path.join(output_dir, 'curve.json')) as stream:
    return json.load(stream)


def _assert_same_curve(points, reference):
  assert len(points) == len(reference)
  for point, expected in zip(points, reference):
    for name in ('beta', 'rate', 'distortion', 'log_z', 'accept_rate'):
      assert point[name] == pytest.approx(expected[name], rel=1e-5,
                                          abs=1e-8), name


@pytest.fixture(scope='module')
def reference(files, tmp_path_factory):
  """The single-process curves (short and long schedule)."""
  curves = {}
  for name, extra in (('short', ()), ('long', _LONG_FLAGS)):
    output_dir = tmp_path_factory.mktemp(f'single_{name}')
    result = run_app('apps.rd_curve', *_flags(files, *extra),
                     f'--output_dir={output_dir}')
    assert result.returncode == 0, result.stderr[-3000:]
    curves[name] = _points(output_dir)
  return curves


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for sock in sockets:
    sock.bind(('127.0.0.1', 0))
  ports = [sock.getsockname()[1] for sock in sockets]
  for sock in sockets:
    sock.close()
  return ports


def _launch_workers(flags, output_dirs, extra=()):
  """Starts one apps.rd_curve worker per output dir, on loopback ports."""
  ports = _free_ports(len(output_dirs))
  processes = []
  for index, output_dir in enumerate(output_dirs):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2',
               TF_CONFIG=json.dumps({
                   'cluster': {'worker': [f'127.0.0.1:{port}'
                                          for port in ports]},
                   'task': {'type': 'worker', 'index': index}}))
    processes.append(subprocess.Popen(
        [sys.executable, '-m', 'apps.rd_curve', *flags,
         '--strategy=multi_worker', f'--output_dir={output_dir}', *extra],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True))
  return processes


def _finish(processes, timeout=600):
  """(return codes, stderr texts) of processes, killed after `timeout`."""
  outputs = []
  for process in processes:
    try:
      _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
      process.kill()
      _, stderr = process.communicate()
    outputs.append(stderr)
  return [process.returncode for process in processes], outputs


# -- The plan and the row split (no strategy needed) ------------------------


def test_shard_plan_splits_images_contiguously():
  plan = distribute.ShardPlan(np.array([0, 3, 5, 7]), (1, 2), 1, 2)
  assert plan.num_replicas == 3
  assert plan.local_images == slice(3, 7)
  assert plan.local_sizes == [2, 2]
  assert not plan.is_chief
  assert distribute.shard_checkpoint_dir('ckpt', plan) == os.path.join(
      'ckpt', 'worker-1-of-2')
  one_worker = distribute.ShardPlan(np.array([0, 3, 5]), (0, 1), 0, 1)
  assert one_worker.is_chief
  assert distribute.shard_checkpoint_dir('ckpt', one_worker) == 'ckpt'


def test_rows_split_and_concatenate_back():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  structure = {'rows': tf.reshape(tf.range(12.0), [6, 2]),
               'scalar': tf.constant(7.0), 'flat': tf.range(6)}
  parts = distribute._split_rows(structure, [4, 2])
  assert parts[0]['rows'].shape == [4, 2] and parts[1]['flat'].shape == [2]
  assert float(parts[1]['scalar']) == 7.0
  back = distribute._concat_rows(parts)
  np.testing.assert_array_equal(back['rows'], structure['rows'])
  np.testing.assert_array_equal(back['flat'], structure['flat'])


def test_plan_of_one_device_and_too_few_images():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  strategy = tf.distribute.MirroredStrategy(['/cpu:0'])
  plan = distribute.plan_shards(strategy, 5)
  assert list(plan.bounds) == [0, 5] and plan.local_replicas == (0,)
  assert plan.num_workers == 1 and plan.is_chief
  assert distribute.gather_images(strategy, plan, {'a': [1]}) == {'a': [1]}
  with pytest.raises(ValueError, match='cannot be split'):
    distribute.plan_shards(strategy, 0)


# -- Two logical CPU devices ------------------------------------------------


_LIBRARY_SCRIPT = textwrap.dedent('''
    import json, sys
    from tfrd import distribute
    distribute.configure_cpu_devices(2)
    import numpy as np, tensorflow as tf, keras, tfrd

    strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    def build():
      keras.utils.set_random_seed(1)
      return keras.Sequential([keras.Input((3,)),
                               keras.layers.Dense(16, activation='tanh'),
                               keras.layers.Dense(20, activation='sigmoid')])
    plain = build()
    with strategy.scope():
      mirrored = build()
    mirrored.set_weights(plain.get_weights())
    data = np.random.default_rng(0).random((5, 20)).astype(np.float32)
    schedule = tfrd.build_schedule(tfrd.rd_point_betas(4, 100.0),
                                   tfrd.geometric_betas(200, 100.0, 1 / 12),
                                   min_before_first=20)
    run = lambda decoder, mass_matrix='identity', **kw: tfrd.estimate_rd_curve(
        decoder, data, 'mse', schedule, latent_dim=3,
        chains=tfrd.ChainSettings(
            num_chains=4, hmc=tfrd.HMCSettings(mass_matrix=mass_matrix)),
        image_indices=np.arange(10, 15), **kw)
    single = run(plain)
    split = run(mirrored, control=tfrd.RunControl(strategy=strategy))
    # Each replica measures the Hessians of its own images.
    single_hessian = run(plain, 'hessian')
    split_hessian = run(mirrored, 'hessian',
                        control=tfrd.RunControl(strategy=strategy))
    try:
      run(plain, control=tfrd.RunControl(strategy=strategy))
      refused = ''
    except ValueError as error:
      refused = str(error)
    print(json.dumps({
        'single': [single.rate.tolist(), single.distortion.tolist(),
                   single.step_size_table.tolist()],
        'split': [split.rate.tolist(), split.distortion.tolist(),
                  split.step_size_table.tolist()],
        'single_hessian': [single_hessian.rate.tolist(),
                           single_hessian.distortion.tolist()],
        'split_hessian': [split_hessian.rate.tolist(),
                          split_hessian.distortion.tolist()],
        'jit_compiled': [single.config['jit_compiled'],
                         split.config['jit_compiled']],
        'image_indices': split.image_indices.tolist(),
        'refused': refused}))
''')


@pytest.mark.slow  # a fresh process loads TensorFlow and runs two curves
def test_two_logical_devices_give_the_single_process_curve():
  result = subprocess.run(
      [sys.executable, '-c', _LIBRARY_SCRIPT], cwd=REPO, capture_output=True,
      text=True, timeout=600, check=False,
      env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2'))
  assert result.returncode == 0, result.stderr[-3000:]
  outcome = json.loads(result.stdout.strip().splitlines()[-1])
  # Both under XLA: a replica reading weights on another device would have
  # fallen back to graph mode.
  assert outcome['jit_compiled'] == [True, True]
  for single, split in zip(outcome['single'] + outcome['single_hessian'],
                           outcome['split'] + outcome['split_hessian']):
    np.testing.assert_allclose(split, single, rtol=1e-5)
  # The Hessian mass matrix moves the chains: not the identity's curve.
  assert not np.allclose(outcome['single_hessian'][0], outcome['single'][0])
  assert outcome['image_indices'] == list(range(10, 15))
  assert 'strategy.scope()' in outcome['refused']


@pytest.mark.slow
def test_mirrored_app_on_two_cpu_devices(files, reference, tmp_path):
  result = run_app('apps.rd_curve', *_flags(files),
                   '--strategy=mirrored', '--cpu_devices=2',
                   f'--output_dir={tmp_path}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'images 0 to 4 of 5 on 2 replica(s)' in result.stderr
  document = _points(tmp_path)
  _assert_same_curve(document['points'], reference['short']['points'])
  strategy = document['config']['strategy']
  assert strategy['kind'] == 'MirroredStrategy'
  assert strategy['num_replicas'] == 2 and strategy['num_workers'] == 1
  assert strategy['images_per_replica'] == [3, 2]
  assert not (tmp_path / 'checkpoint').exists()


# -- Two workers on loopback ports ------------------------------------------


@pytest.mark.slow
def test_two_loopback_workers_give_the_single_process_curve(files, reference,
                                                            tmp_path):
  chief_dir, other_dir = tmp_path / 'chief', tmp_path / 'other'
  codes, errors = _finish(_launch_workers(_flags(files),
                                          [chief_dir, other_dir]))
  assert codes == [0, 0], errors[0][-2000:] + errors[1][-2000:]
  assert 'worker 1 of 2: images 3 to 4 of 5' in errors[1]
  document = _points(chief_dir)
  _assert_same_curve(document['points'], reference['short']['points'])
  assert document['config']['strategy']['num_workers'] == 2
  assert sorted(os.listdir(chief_dir)) == ['curve.csv', 'curve.json',
                                           'curve.npz', 'curve.png',
                                           'step_sizes.npz']
  # The other worker writes nothing into its --output_dir: its checkpoint
  # there is gone, and so are the directories the run created for it.
  assert not other_dir.exists()


@pytest.mark.slow
def test_workers_take_the_schedule_the_chiefs_search_settled(files,
                                                             tmp_path):
  # A target no tiny schedule meets: the chief's search doubles the schedule
  # once, to the cap, and both workers run the curve on that schedule. The
  # chief, which judged the explicit target unmet, exits 3 after writing
  # the curve; the other worker's part is done (0).
  search = ('--bdmc_points=auto', '--target_gap=0.001',
            '--max_num_intermediate=120')
  chief_dir, other_dir = tmp_path / 'chief', tmp_path / 'other'
  codes, errors = _finish(_launch_workers(_flags(files, *search),
                                          [chief_dir, other_dir]))
  assert codes == [3, 0], errors[0][-2000:] + errors[1][-2000:]
  assert 'target gap of 0.001 nats was not met' in errors[0]
  assert 'checking the schedule first' in errors[0]
  assert 'checking the schedule first' not in errors[1]
  assert "waiting for the chief's accuracy check" in errors[1]
  document = _points(chief_dir)
  accuracy = document['accuracy']
  assert accuracy['search']['status'] == 'capped'
  assert accuracy['search']['settled_num_intermediate'] == 120
  # The search re-spaced the schedule by the speed it measured; the other
  # worker took the chief's measurement, so one process running the same
  # search gives the same curve.
  assert document['config']['schedule']['thermodynamic']
  assert accuracy['search']['speed']['decoder_gradients'] > 0
  single_dir = tmp_path / 'single'
  result = run_app('apps.rd_curve', *_flags(files, *search),
                   f'--output_dir={single_dir}')
  assert result.returncode == 3, result.stderr[-3000:]
  _assert_same_curve(document['points'], _points(single_dir)['points'])


@pytest.mark.slow
def test_killed_worker_resumes_its_shard(files, reference, tmp_path):
  flags = _flags(files, *_LONG_FLAGS, '--checkpoint_interval_s=0')
  output_dirs = [tmp_path / 'chief', tmp_path / 'other']
  processes = _launch_workers(flags, output_dirs)
  try:
    # Driven by what the run reports, not by timing: with
    # --checkpoint_interval_s=0 a progress line comes after the chunk's
    # checkpoint, and the first one leaves most of the run ahead.
    seen = []
    for line in processes[1].stderr:
      seen.append(line)
      if line.startswith('[preliminary '):
        break
    else:
      pytest.fail('worker 1 printed no progress line:\n' + ''.join(seen))
    assert processes[1].poll() is None, 'worker 1 ended before the kill'
    processes[1].send_signal(signal.SIGKILL)
  finally:
    codes, errors = _finish(processes)
  assert codes[1] == -signal.SIGKILL
  # The chief finishes its own images, then cannot merge: one line, status 1,
  # saying what to do.
  assert codes[0] == 1, errors[0][-3000:]
  assert 'another worker stopped before the curve was merged' in errors[0]
  assert '--resume' in errors[0]
  assert not (output_dirs[0] / 'curve.json').exists()
  own_checkpoints = [output_dirs[0] / 'checkpoint' / 'worker-0-of-2',
                     output_dirs[1] / 'checkpoint' / 'worker-1-of-2']
  assert all(path.is_dir() for path in own_checkpoints)

  codes, errors = _finish(_launch_workers(flags, output_dirs, ['--resume']))
  assert codes == [0, 0], errors[0][-2000:] + errors[1][-2000:]
  # The chief's images were finished: loaded, not redone (no chunk ran).
  assert '[preliminary' not in errors[0] and '[reported' not in errors[0]
  # Worker 1 continued after its checkpoint instead of starting again.
  first_progress = [line for line in errors[1].splitlines()
                    if line.startswith('[')][0]
  assert not first_progress.startswith('[preliminary 1/2] points 0/6  '
                                       'transition 32/')
  _assert_same_curve(_points(output_dirs[0])['points'],
                     reference['long']['points'])
  assert not (output_dirs[0] / 'checkpoint').exists()
  assert not output_dirs[1].exists()


# -- Bad input: one line, before any work -----------------------------------


@pytest.mark.slow  # each case starts apps.rd_curve, which loads TensorFlow
@pytest.mark.parametrize('extra, env, message', [
    (['--cpu_devices=2'], {}, '--cpu_devices splits the CPU for '
                              '--strategy=mirrored'),
    (['--strategy=multi_worker'], {'TF_CONFIG': ''},
     'needs the cluster in the TF_CONFIG'),
    (['--strategy=multi_worker'], {'TF_CONFIG': '{"cluster": {}}'},
     'TF_CONFIG is not a cluster specification'),
    (['--strategy=mirrored', '--device=/CPU:0'], {},
     '--device pins a run to one device'),
    (['--strategy=mirrored', '--cpu_devices=-1'], {},
     '--cpu_devices must be 0 or more'),
    (['--strategy=mirrored', '--cpu_devices=6'], {},
     '5 image(s) cannot be split among 6 replicas'),
])
def test_bad_strategy_flags_are_refused_before_any_work(files, tmp_path,
                                                        extra, env, message):
  result = run_app('apps.rd_curve', *_flags(files), *extra,
                   f'--output_dir={tmp_path / "out"}', env=env)
  assert result.returncode == 2, result.stderr[-2000:]
  errors = [line for line in result.stderr.splitlines()
            if line.startswith('rd_curve: error:')]
  assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
  assert not (tmp_path / 'out').exists()


@pytest.mark.slow  # runs benchmarks.replication end to end
def test_replication_benchmark_runs_the_same_chains(tmp_path):
  data_dir = app_runner.write_mnist_test_images(str(tmp_path), 4)
  result = run_app('benchmarks.replication', f'--data_dir={data_dir}',
                   '--num_images=4',
                   '--num_chains=2', '--leapfrog_steps=2',
                   '--num_transitions=32', '--repetitions=1',
                   '--cpu_devices=2')
  assert result.returncode == 0, result.stderr[-3000:]
  rows = [line.split() for line in result.stdout.splitlines()
          if line.startswith(('plain', 'mirrored'))]
  assert [' '.join(row[:-3]) for row in rows] == ['plain', 'mirrored x1',
                                                 'mirrored x2']
  assert all(row[-1] == 'yes' for row in rows)
  assert rows[0][-2] == '1.000'
