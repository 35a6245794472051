"""benchmarks.throughput end to end, on a synthetic MNIST file.

The benchmark reads the raw MNIST IDX file itself, so the tests write a
small file of that format and need no data directory. Wall-clock figures
are never compared with numbers: only their positivity and the relations
between the reported fields, recomputed here from the layer sizes.
"""

import json
import os
import subprocess
import sys

import pytest

import app_runner  # pylint: disable=g-bad-import-order

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Dense layer sizes (inputs, outputs) of the paper's decoders, written out
# here rather than read from the benchmark, so that the FLOP count is checked
# against an independent statement of it.
_TINY_LAYERS = [(2, 128), (128, 784)]
_DEEP_LAYERS = [(10, 1024), (1024, 1024), (1024, 1024), (1024, 784)]


def _useful_flops(layers, num_rows, num_leapfrog_steps):
  # Forward 2mn and backward-to-input 2mn per row and layer, L times.
  return num_leapfrog_steps * num_rows * sum(4 * m * n for m, n in layers)


def _run(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  env.pop('TFRD_DATA_DIR', None)
  return subprocess.run(
      [sys.executable, '-m', 'benchmarks.throughput', *args], cwd=_ROOT,
      env=env, capture_output=True, text=True, timeout=900, check=False)


# Every benchmark started as a user does; they share nothing but the rule.
_BENCHMARKS = ('accuracy_study', 'failure_modes', 'feature_distortion',
               'linear_check', 'paper_scale', 'precision_study', 'replication',
               'throughput')


@pytest.mark.slow  # starts every benchmark in a fresh interpreter
@pytest.mark.parametrize('name', _BENCHMARKS)
def test_help_answers_without_tensorflow(name):
  # pipelines.jobs.run installs the TensorFlow notice filter before
  # TensorFlow loads: a benchmark module imports it only in its work.
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run(
      [sys.executable, '-X', 'importtime', '-m', f'benchmarks.{name}',
       '--help'], cwd=_ROOT, env=env, capture_output=True, text=True,
      timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  imported = [line.rsplit('|', 1)[-1].strip()
              for line in result.stderr.splitlines()
              if line.startswith('import time:')]
  assert 'absl.flags' in imported
  assert 'tensorflow' not in imported


@pytest.mark.slow  # runs benchmarks.throughput end to end
def test_tiny_decoder_reports_consistent_figures(tmp_path):
  data_dir = app_runner.write_mnist_test_images(tmp_path / 'data', 4)
  output = tmp_path / 'out' / 'throughput.json'
  chains, images, leapfrog, transitions = 2, 2, 2, 64
  result = _run('--decoders=tiny', f'--num_chains={chains}',
                f'--num_images={images}', f'--leapfrog_steps={leapfrog}',
                f'--num_transitions={transitions}', '--repetitions=2',
                '--matmul_size=512', '--matmul_repetitions=1',
                f'--data_dir={data_dir}', f'--json={output}')
  assert result.returncode == 0, result.stderr[-3000:]
  header, rule, row = result.stdout.splitlines()[1:4]
  assert header.split()[:2] == ['decoder', 'K·B'] and set(rule) <= {'-', ' '}
  assert row.split()[:4] == ['tiny', str(chains * images), str(leapfrog),
                             str(transitions)]
  # Columns are aligned: every line of the table has the same width.
  assert len(header) == len(rule) == len(row)

  with open(output) as stream:
    document = json.load(stream)
  assert document['tensorflow'] and document['timestamp']
  assert document['machine']['cpu_count'] == os.cpu_count()
  assert document['machine']['platform']
  assert document['settings']['num_transitions'] == transitions
  assert document['matmul']['gflops'] > 0
  [entry] = document['results']
  assert entry['decoder'] == 'tiny'
  assert entry['decoder_gradients_per_transition'] == leapfrog
  for name in ('seconds_per_transition', 'compile_s', 'useful_gflops',
               'matmul_gflops', 'ratio_of_matmul', 'peak_memory_mb'):
    assert entry[name] > 0, name
  assert entry['matmul_gflops'] == pytest.approx(document['matmul']['gflops'])
  assert entry['ratio_of_matmul'] == pytest.approx(
      entry['useful_gflops'] / entry['matmul_gflops'])
  flops = _useful_flops(_TINY_LAYERS, chains * images, leapfrog)
  assert entry['flops_per_transition'] == flops
  assert entry['useful_gflops'] == pytest.approx(
      flops / entry['seconds_per_transition'] / 1e9)
  # The best repetition is the one reported.
  assert entry['seconds_per_transition'] == pytest.approx(
      min(entry['repetition_seconds']) / transitions)
  # The bare decoder gradient: the same FLOPs, its own time.
  assert entry['bare_seconds_per_transition'] > 0
  assert entry['bare_gflops'] == pytest.approx(
      flops / entry['bare_seconds_per_transition'] / 1e9)
  assert entry['ratio_of_bare'] == pytest.approx(
      entry['bare_seconds_per_transition'] / entry['seconds_per_transition'])
  assert 'paper_setting' not in document


@pytest.mark.parametrize('args, message', [
    (['--decoders=tiny,huge'], "unknown decoder(s) ['huge']"),
    (['--num_chains=0'], '--num_chains must be a positive integer'),
    (['--num_transitions=-32'], '--num_transitions must be a positive'),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
  data_dir = app_runner.write_mnist_test_images(tmp_path, 2)
  result = _run(*args, f'--data_dir={data_dir}')
  assert result.returncode == 2, result.stderr[-3000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('throughput: error: '), lines
  assert message in lines[0]
  assert result.stdout == ''


@pytest.mark.slow  # starts the benchmark, which loads TensorFlow
def test_missing_mnist_file_is_one_line_and_exit_2(tmp_path):
  result = _run('--decoders=tiny', f'--data_dir={tmp_path}')
  assert result.returncode == 2, result.stderr[-3000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('throughput: error: '), lines
  assert 't10k-images-idx3-ubyte.gz' in lines[0]


@pytest.mark.slow
def test_paper_setting_prints_the_labelled_projection(tmp_path):
  data_dir = app_runner.write_mnist_test_images(tmp_path / 'data', 50)
  output = tmp_path / 'throughput.json'
  result = _run('--decoders=', '--paper_setting', '--paper_transitions=1',
                '--matmul_size=512', '--matmul_repetitions=1',
                '--device_tflops_fp32=10', '--device_tflops_tf32=100',
                '--chunk_overhead_us=100', f'--data_dir={data_dir}',
                f'--json={output}')
  assert result.returncode == 0, result.stderr[-3000:]
  text = result.stdout
  assert 'PROJECTION, GPU at 10 TFLOP/s FP32' in text
  assert 'PROJECTION, GPU at 100 TFLOP/s TF32' in text
  assert '52,713 transitions per pass' in text
  assert '60,292 transitions per pass' in text
  assert 'rests on' in text and '4-7 hours on one P100' in text
  assert '15 minutes on one H100' in text

  with open(output) as stream:
    projection = json.load(stream)['paper_setting']
  assert (projection['num_chains'], projection['num_images'],
          projection['leapfrog_steps'], projection['num_passes']) == (
              40, 50, 20, 2)
  flops = _useful_flops(_DEEP_LAYERS, 40 * 50, 20)
  assert projection['flops_per_transition'] == flops
  fraction = min(projection['ratio_of_matmul'], 1.0)
  assert projection['projected_fraction_of_peak'] == pytest.approx(fraction)
  seconds = projection['measured_seconds_per_transition']
  assert seconds > 0
  lengths = {key: entry['num_transitions']
             for key, entry in projection['schedules'].items()}
  assert lengths == {'tfrd': 52713, 'paper': 60292}
  for entry in projection['schedules'].values():
    transitions = entry['num_transitions'] * 2
    assert entry['this_machine_s'] == pytest.approx(seconds * transitions)
    assert entry['total_flops'] == flops * transitions
    overhead = entry['num_chunks_per_pass'] * 2 * 100e-6
    for precision, tflops in (('fp32', 10), ('tf32', 100)):
      device = entry['device_projection'][precision]
      assert device['compute_s'] == pytest.approx(
          flops * transitions / (tflops * 1e12 * fraction))
      assert device['overhead_s'] == pytest.approx(overhead)
      assert device['total_s'] == pytest.approx(
          device['compute_s'] + overhead)
