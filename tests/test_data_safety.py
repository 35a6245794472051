"""Users' files are never lost: the rules of pipelines.output_files and of tfrd's
checkpoint directories, tested like features, through the apps as a user
runs them and through the library."""

import json
import os
import signal

import numpy as np
import pytest

from pipelines import output_files
import tfrd
from tfrd import checkpointing
from tfrd import files

import app_runner  # pylint: disable=g-bad-import-order

TINY_AIS_FLAGS = list(app_runner.TINY_CURVE_FLAGS)
USER_TEXT = 'the user\'s own notes\n'


_run = app_runner.run_app


def _error_lines(result):
  return [line for line in result.stderr.splitlines() if ': error:' in line]


def _assert_refused(result, program, message):
  assert result.returncode == 2, result.stderr[-3000:]
  assert 'Traceback' not in result.stderr
  errors = _error_lines(result)
  assert len(errors) == 1 and errors[0].startswith(f'{program}: error:'), (
      result.stderr[-3000:])
  assert message in errors[0]


def _user_file(path):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as stream:
    stream.write(USER_TEXT)
  return path


def _unchanged(path):
  with open(path) as stream:
    return stream.read() == USER_TEXT


@pytest.fixture(scope='module')
def decoder_and_data(tmp_path_factory):
  root = tmp_path_factory.mktemp('safety')
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(3, 24)) * 0.3
  model_path = app_runner.save_linear_decoder(str(root / 'linear.keras'),
                                              kernel, 0.4)
  data_path = str(root / 'images.npz')
  np.savez(data_path, x=(rng.normal(size=(3, 3)) @ kernel + 0.4).astype(
      np.float32))
  return [f'--model={model_path}', f'--dataset=npz:{data_path}',
          '--num_images=3']


# --- the library ------------------------------------------------------------


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
  path = _user_file(str(tmp_path / 'result.json'))
  with pytest.raises(RuntimeError):
    with files.atomic_write(path) as stream:
      stream.write('half of a new resu')
      raise RuntimeError('killed while writing')
  assert _unchanged(path)
  assert os.listdir(tmp_path) == ['result.json']  # no partial file left
  with files.atomic_write(path) as stream:
    stream.write('new')
  with open(path) as stream:
    assert stream.read() == 'new'


def _checkpointer(directory):
  return checkpointing.AISCheckpointer(str(directory), {'settings': 'x'})


def test_checkpoint_directory_with_foreign_files_is_refused(tmp_path):
  _user_file(str(tmp_path / 'results' / 'notes.txt'))
  with pytest.raises(checkpointing.CheckpointDirectoryError,
                     match='holds files tfrd did not write.*notes.txt'):
    checkpointing.check_directory(str(tmp_path / 'results'))
  _user_file(str(tmp_path / 'a_file'))
  with pytest.raises(checkpointing.CheckpointDirectoryError, match='is a file'):
    checkpointing.check_directory(str(tmp_path / 'a_file'))
  # New, empty and tfrd's own directories are fine.
  checkpointing.check_directory(str(tmp_path / 'new'))
  os.mkdir(tmp_path / 'empty')
  checkpointing.check_directory(str(tmp_path / 'empty'))


def test_remove_checkpoint_deletes_only_tfrd_files(tmp_path):
  created = tmp_path / 'created_by_tfrd'
  checkpointer = _checkpointer(created)
  for step in range(3):  # more than max_to_keep
    checkpointer.save({'latents': np.full([2], float(step))})
  assert checkpointing.has_checkpoint(str(created))
  user_file = _user_file(str(created / 'notes.txt'))
  checkpointing.check_directory(str(created))  # its own checkpoint is there
  checkpointing.remove_checkpoint(str(created))
  assert os.listdir(created) == ['notes.txt'] and _unchanged(user_file)
  # A directory tfrd created goes once empty; one the user made stays.
  fresh = tmp_path / 'fresh'
  _checkpointer(fresh).save({'latents': np.zeros([2])})
  checkpointing.remove_checkpoint(str(fresh))
  assert not os.path.exists(fresh)
  existing = tmp_path / 'existing'
  os.mkdir(existing)
  _checkpointer(existing).save({'latents': np.zeros([2])})
  checkpointing.remove_checkpoint(str(existing))
  assert os.path.isdir(existing) and not os.listdir(existing)


def test_remove_checkpoint_removes_only_the_empty_parents_it_made(tmp_path):
  # tmp/made/by/tfrd/ckpt: 'made', 'by' and 'tfrd' did not exist.
  deep = tmp_path / 'made' / 'by' / 'tfrd' / 'ckpt'
  _checkpointer(deep).save({'latents': np.zeros([2])})
  user_file = _user_file(str(tmp_path / 'made' / 'notes.txt'))
  checkpointing.remove_checkpoint(str(deep))
  # 'tfrd' and 'by' were empty and tfrd's; 'made' holds the user's file.
  assert os.listdir(tmp_path / 'made') == ['notes.txt']
  assert _unchanged(user_file)
  # A parent the user had made stays, even when empty.
  os.mkdir(tmp_path / 'users')
  inner = tmp_path / 'users' / 'new' / 'ckpt'
  _checkpointer(inner).save({'latents': np.zeros([2])})
  checkpointing.remove_checkpoint(str(inner))
  assert os.listdir(tmp_path / 'users') == []


def test_remove_checkpoint_leaves_a_users_tensorflow_checkpoint(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(v=tf.Variable(1.0)), str(tmp_path), max_to_keep=1)
  manager.save()
  before = sorted(os.listdir(tmp_path))
  assert checkpointing.remove_checkpoint(str(tmp_path)) == []
  assert sorted(os.listdir(tmp_path)) == before
  with pytest.raises(checkpointing.CheckpointDirectoryError):
    checkpointing.check_directory(str(tmp_path))


def test_estimate_rd_curve_refuses_a_shared_checkpoint_dir_before_work(
    small_linear_problem, tmp_path):
  user_file = _user_file(str(tmp_path / 'notes.txt'))
  with pytest.raises(tfrd.CheckpointDirectoryError):
    tfrd.estimate_rd_curve(
        lambda z: z, small_linear_problem.data, 'mse',
        latent_dim=small_linear_problem.latent_dim,
        control=tfrd.RunControl(checkpoint_dir=str(tmp_path)))
  assert os.listdir(tmp_path) == ['notes.txt'] and _unchanged(user_file)


def test_output_files_rules(tmp_path):
  directory = str(tmp_path / 'out')
  outputs = output_files.OutputFiles('app', directory, ['done.json', 'b.png'])
  # Checked, not created: a run refused after this leaves no directory.
  assert outputs.prepare() is False and not os.path.exists(directory)
  with outputs.open('done.json') as stream:
    stream.write('{}')
  again = output_files.OutputFiles('app', directory, ['done.json', 'b.png'])
  with pytest.raises(output_files.OutputError,
                     match='already holds done.json; pass --overwrite'):
    again.prepare()
  assert again.prepare(resume=True) is True  # finished: nothing to resume
  output_files.OutputFiles('app', directory, ['done.json'],
                           overwrite=True).prepare()
  with pytest.raises(output_files.OutputError, match='already holds b.png'):
    _user_file(os.path.join(directory, 'b.png'))
    again.declare(['b.png'])
  with pytest.raises(ValueError, match='not one of the files'):
    outputs.open('undeclared.txt')
  with pytest.raises(output_files.OutputError, match='is a file'):
    output_files.OutputFiles('app', os.path.join(directory, 'done.json'),
                             ['x']).prepare()
  with pytest.raises(output_files.OutputError, match='is a file'):
    output_files.OutputFiles('app', os.path.join(directory, 'done.json',
                                                 'deeper'), ['x']).prepare()
  read_only = tmp_path / 'read_only'
  read_only.mkdir(mode=0o500)
  if not os.access(read_only, os.W_OK):  # root may write anywhere
    with pytest.raises(output_files.OutputError, match='not writable'):
      output_files.OutputFiles('app', str(read_only / 'new' / 'out'),
                               ['x']).prepare()
    assert not os.path.exists(read_only / 'new')


# --- apps.rd_curve, as a user runs it ---------------------------------------


@pytest.mark.slow  # starts apps.rd_curve, which loads TensorFlow
def test_output_dir_that_is_a_file_is_one_line_before_any_work(
    decoder_and_data, tmp_path):
  path = _user_file(str(tmp_path / 'results'))
  result = _run('apps.rd_curve', *decoder_and_data, f'--output_dir={path}',
                *TINY_AIS_FLAGS)
  _assert_refused(result, 'rd_curve', 'is a file, not a directory')
  assert _unchanged(path)


@pytest.mark.slow  # starts apps.rd_curve, which loads TensorFlow
def test_shared_checkpoint_dir_is_refused_and_kept(decoder_and_data, tmp_path):
  shared = tmp_path / 'my_results'
  user_file = _user_file(str(shared / 'table.csv'))
  result = _run('apps.rd_curve', *decoder_and_data,
                f'--output_dir={tmp_path / "out"}',
                f'--checkpoint_dir={shared}', *TINY_AIS_FLAGS)
  _assert_refused(result, 'rd_curve', str(shared))
  assert os.listdir(shared) == ['table.csv'] and _unchanged(user_file)
  assert not os.path.exists(tmp_path / 'out' / 'curve.json')


@pytest.mark.slow
def test_finished_results_are_refused_resumed_and_overwritten_on_request(
    decoder_and_data, tmp_path):
  output_dir = tmp_path / 'out'
  checkpoint_dir = tmp_path / 'checkpoints'  # the user made it: it stays
  os.mkdir(checkpoint_dir)
  flags = [*decoder_and_data, f'--output_dir={output_dir}',
           f'--checkpoint_dir={checkpoint_dir}', *TINY_AIS_FLAGS]
  first = _run('apps.rd_curve', *flags, '--resume')
  assert first.returncode == 0, first.stderr[-3000:]
  assert ('rd_curve: --resume: no checkpoint in '
          f'{checkpoint_dir}; starting a fresh run.') in first.stderr
  assert os.path.isdir(checkpoint_dir) and not os.listdir(checkpoint_dir)
  with open(output_dir / 'curve.json') as stream:
    finished = stream.read()

  rerun = _run('apps.rd_curve', *flags, '--seed=5')
  _assert_refused(rerun, 'rd_curve', 'already holds curve.json')
  assert '--overwrite' in _error_lines(rerun)[0]

  resumed = _run('apps.rd_curve', *flags, '--resume')
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert 'is finished' in resumed.stderr
  assert str(output_dir / 'curve.json') in resumed.stderr
  with open(output_dir / 'curve.json') as stream:
    assert stream.read() == finished

  _user_file(str(output_dir / 'my_notes.txt'))
  overwritten = _run('apps.rd_curve', *flags, '--seed=5', '--overwrite')
  assert overwritten.returncode == 0, overwritten.stderr[-3000:]
  with open(output_dir / 'curve.json') as stream:
    assert json.load(stream)['config']['seed'] == 5
  assert _unchanged(output_dir / 'my_notes.txt')


@pytest.mark.slow
def test_sigterm_leaves_a_checkpoint_and_resume_gives_the_same_curve(
    decoder_and_data, tmp_path):
  # Long enough that thousands of chunks remain after the first progress
  # line, the event the interruption is driven by.
  flags = [*decoder_and_data, '--num_chains=2', '--num_intermediate=20000',
           '--num_rd_points=4', '--beta_max=10', '--min_before_first=20',
           '--leapfrog_steps=1', '--checkpoint_interval_s=100000',
           '--bdmc_points=none']
  reference = _run('apps.rd_curve', *flags,
                   f'--output_dir={tmp_path / "reference"}')
  assert reference.returncode == 0, reference.stderr[-3000:]

  output_dir = tmp_path / 'out'
  checkpoint_dir = output_dir / 'checkpoint'
  status, rest = app_runner.signal_app_at_line(
      'apps.rd_curve', [*flags, f'--output_dir={output_dir}'], '[preliminary',
      signal.SIGTERM)
  assert status == 128 + signal.SIGTERM, rest[-3000:]
  assert 'SIGTERM received; checkpoint written to' in rest
  assert checkpointing.has_checkpoint(str(checkpoint_dir))
  assert not os.path.exists(output_dir / 'curve.json')

  # The user drops a file of their own into the checkpoint directory; the
  # resumed run removes its own checkpoint and nothing else.
  user_file = _user_file(str(checkpoint_dir / 'notes.txt'))
  resumed = _run('apps.rd_curve', *flags, f'--output_dir={output_dir}',
                 '--resume')
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert os.listdir(checkpoint_dir) == ['notes.txt'] and _unchanged(user_file)
  with np.load(output_dir / 'curve.npz') as got, np.load(
      tmp_path / 'reference' / 'curve.npz') as want:
    for name in ('rate', 'distortion', 'log_z'):
      np.testing.assert_array_equal(got[name], want[name])


@pytest.mark.slow  # starts apps.rd_curve, which loads TensorFlow
def test_unfinished_checkpoint_needs_resume_or_overwrite(decoder_and_data,
                                                         tmp_path):
  checkpoint_dir = tmp_path / 'ckpt'
  _checkpointer(checkpoint_dir).save({'latents': np.zeros([2])})
  result = _run('apps.rd_curve', *decoder_and_data,
                f'--output_dir={tmp_path / "out"}',
                f'--checkpoint_dir={checkpoint_dir}', *TINY_AIS_FLAGS)
  _assert_refused(result, 'rd_curve', 'pass --resume to continue it or '
                  '--overwrite to discard it')
  assert checkpointing.has_checkpoint(str(checkpoint_dir))


# --- the other apps that write results ---------------------------------------


@pytest.mark.slow  # each case starts an app, which loads TensorFlow
@pytest.mark.parametrize('module, args, existing', [
    ('apps.bdmc', ['--model=MODEL', '--rd_points=1'], 'bdmc.json'),
    ('apps.linear_vae', [], 'linear_vae.json'),
    ('apps.entropic_gan', [], 'entropic_gan.json'),
    ('apps.train', ['--family=vae', '--output=OUT/decoder.keras'],
     'decoder.keras'),
])
def test_other_apps_refuse_to_replace_results(decoder_and_data, tmp_path,
                                              module, args, existing):
  output_dir = tmp_path / 'out'
  user_file = _user_file(str(output_dir / existing))
  model = decoder_and_data[0].split('=', 1)[1]
  args = [arg.replace('MODEL', model).replace('OUT', str(output_dir))
          for arg in args]
  if module != 'apps.train':
    args.append(f'--output_dir={output_dir}')
  result = _run(module, *args)
  program = module.split('.')[1]
  _assert_refused(result, program, f'already holds {existing}')
  assert _unchanged(user_file)
