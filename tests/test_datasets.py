"""adapters.datasets loads images and says clearly when it cannot.

No test here reaches for the network: every one runs as on a machine without
it (see `no_network`), and the download path is checked through its choice and
its offline message, never through a download.
"""

import json
import os
import socket
import time

import numpy as np
import pytest

from adapters import datasets
from adapters.datasets import DatasetError

_MNIST_FILES = (
    'train-images-idx3-ubyte.gz',
    'train-labels-idx1-ubyte.gz',
    't10k-images-idx3-ubyte.gz',
    't10k-labels-idx1-ubyte.gz',
)


@pytest.fixture(scope='module', autouse=True)
def no_network():
  """Host name lookups fail meanwhile, as on a machine without network.

  requests (which TFDS downloads with) and urllib look every host up first,
  so no connection leaves this module; the failure is the one this machine
  gives offline (socket.gaierror), and each host asked for is recorded.

  Yields:
    the list of hosts looked up so far (tests may clear it).
  """
  hosts = []

  def offline_getaddrinfo(host, *unused_args, **unused_kwargs):
    hosts.append(host)
    raise socket.gaierror(socket.EAI_NONAME,
                          'Name or service not known (tests run offline)')

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(socket, 'getaddrinfo', offline_getaddrinfo)
    yield hosts


def _write_npz(tmp_path, name='images.npz', **arrays):
  path = tmp_path / name
  np.savez(path, **arrays)
  return str(path)


# npz files.


def test_npz_loads_all_images_as_float32(tmp_path):
  x = np.random.default_rng(0).uniform(size=(10, 4, 3))
  path = _write_npz(tmp_path, x=x, labels=np.arange(10))
  images = datasets.load_dataset('npz:' + path)
  assert images.shape == (10, 4, 3)
  assert images.dtype == np.float32
  np.testing.assert_array_equal(images, x.astype(np.float32))


def test_npz_offset_and_num_images_select_a_slice(tmp_path):
  x = np.arange(10 * 6, dtype=np.float32).reshape(10, 2, 3)
  path = _write_npz(tmp_path, x=x)
  np.testing.assert_array_equal(
      datasets.load_dataset('npz:' + path, num_images=4, offset=3), x[3:7])
  np.testing.assert_array_equal(
      datasets.load_dataset('npz:' + path, num_images=np.int64(2)), x[:2])
  np.testing.assert_array_equal(
      datasets.load_dataset('npz:' + path, offset=8), x[8:])
  # The whole file, exactly.
  assert datasets.load_dataset('npz:' + path, num_images=10).shape[0] == 10


def test_npz_integer_and_bool_data_become_float32_unscaled(tmp_path):
  x = np.array([[0, 7, 255], [1, 2, 3]], dtype=np.uint8)
  images = datasets.load_dataset('npz:' + _write_npz(tmp_path, x=x))
  assert images.dtype == np.float32
  np.testing.assert_array_equal(images, [[0, 7, 255], [1, 2, 3]])
  flags = datasets.load_dataset(
      'npz:' + _write_npz(tmp_path, 'b.npz', x=np.array([[True, False]])))
  assert flags.dtype == np.float32
  np.testing.assert_array_equal(flags, [[1.0, 0.0]])


def test_npz_missing_file_names_the_path(tmp_path):
  path = str(tmp_path / 'nowhere.npz')
  with pytest.raises(DatasetError, match='does not exist') as info:
    datasets.load_dataset('npz:' + path)
  assert path in str(info.value)


def test_npz_invalid_file(tmp_path):
  path = tmp_path / 'broken.npz'
  path.write_text('not an archive')
  with pytest.raises(DatasetError, match='not a valid .npz file'):
    datasets.load_dataset(f'npz:{path}')
  # A truncated archive is as bad.
  good = _write_npz(tmp_path, 'good.npz', x=np.zeros((3, 2)))
  with open(good, 'rb') as f:
    (tmp_path / 'cut.npz').write_bytes(f.read()[:40])
  with pytest.raises(DatasetError, match='not a valid .npz file'):
    datasets.load_dataset(f'npz:{tmp_path / "cut.npz"}')


def test_npz_single_npy_array_is_not_an_archive(tmp_path):
  path = tmp_path / 'single.npz'
  with open(path, 'wb') as f:
    np.save(f, np.zeros((3, 2)))
  with pytest.raises(DatasetError, match='single array.*savez'):
    datasets.load_dataset(f'npz:{path}')


def test_npz_without_key_x_lists_its_keys(tmp_path):
  path = _write_npz(tmp_path, images=np.zeros((3, 2)), labels=np.zeros(3))
  with pytest.raises(DatasetError, match="no key 'x'") as info:
    datasets.load_dataset('npz:' + path)
  assert "'images'" in str(info.value) and "'labels'" in str(info.value)


def test_npz_fewer_images_than_asked_gives_both_counts(tmp_path):
  path = _write_npz(tmp_path, x=np.zeros((10, 2)))
  with pytest.raises(DatasetError, match='holds 10 images') as info:
    datasets.load_dataset('npz:' + path, num_images=8, offset=4)
  assert 'num_images=8' in str(info.value) and '12' in str(info.value)
  with pytest.raises(DatasetError, match='holds 10 images.*offset 10'):
    datasets.load_dataset('npz:' + path, offset=10)


@pytest.mark.parametrize('x', [
    np.array([['a', 'b'], ['c', 'd']]),
    np.array([1 + 2j, 3j]),
], ids=['str', 'complex'])
def test_npz_non_numeric_dtype(tmp_path, x):
  path = _write_npz(tmp_path, x=x)
  with pytest.raises(DatasetError, match='dtype.*numeric'):
    datasets.load_dataset('npz:' + path)


def test_npz_object_array_is_refused_without_pickle(tmp_path):
  path = _write_npz(tmp_path, x=np.array([{'a': 1}, None], dtype=object))
  with pytest.raises(DatasetError, match='pickle'):
    datasets.load_dataset('npz:' + path)


def test_npz_non_finite_values(tmp_path):
  x = np.zeros((4, 3))
  x[2, 1] = np.nan
  path = _write_npz(tmp_path, x=x)
  with pytest.raises(DatasetError, match='1 non-finite.*image 2'):
    datasets.load_dataset('npz:' + path)
  # Only the selected images are used, so only they must be finite.
  assert datasets.load_dataset('npz:' + path, num_images=2).shape == (2, 3)
  # Finite in float64 but not in float32.
  path = _write_npz(tmp_path, 'big.npz', x=np.array([[1e300, 0.0]]))
  with pytest.raises(DatasetError, match='non-finite'):
    datasets.load_dataset('npz:' + path)


@pytest.mark.parametrize('x', [np.zeros((0, 28, 28)), np.float32(3.0)],
                         ids=['empty', 'scalar'])
def test_npz_without_images(tmp_path, x):
  path = _write_npz(tmp_path, x=x)
  with pytest.raises(DatasetError, match='holds no images'):
    datasets.load_dataset('npz:' + path)


# Specs and arguments.


@pytest.mark.parametrize('spec', ['MNIST', 'imagenet', 'npz', 'x.npz', '',
                                  None, 3])
def test_unknown_spec_lists_accepted_forms(spec):
  with pytest.raises(DatasetError, match='Unknown dataset spec') as info:
    datasets.load_dataset(spec)
  for form in ("'mnist'", "'cifar10'", "'npz:PATH'"):
    assert form in str(info.value)


def test_npz_spec_without_path():
  with pytest.raises(DatasetError, match="no path after 'npz:'"):
    datasets.load_dataset('npz:')


@pytest.mark.parametrize('num_images', [0, -3, 2.5, 5.0, True, '5'])
def test_bad_num_images(tmp_path, num_images):
  path = _write_npz(tmp_path, x=np.zeros((10, 2)))
  with pytest.raises(DatasetError, match='num_images must be a positive'):
    datasets.load_dataset('npz:' + path, num_images=num_images)


@pytest.mark.parametrize('offset', [-1, 1.5, None])
def test_bad_offset(tmp_path, offset):
  path = _write_npz(tmp_path, x=np.zeros((10, 2)))
  with pytest.raises(DatasetError, match='offset must be a non-negative'):
    datasets.load_dataset('npz:' + path, offset=offset)


def test_bad_split_for_tfds_datasets(tmp_path):
  with pytest.raises(DatasetError, match="'train', 'test'"):
    datasets.load_dataset('mnist', 5, split='validation',
                          tfds_data_dir=str(tmp_path))


def test_dataset_description_is_json_ready(tmp_path):
  description = datasets.dataset_description('mnist', 'test', np.int64(5), 0)
  assert description == {
      'name': 'mnist', 'spec': 'mnist', 'split': 'test', 'offset': 0,
      'num_images': 5, 'tfds_name': 'mnist:3.0.1'}
  assert json.loads(json.dumps(description)) == description
  path = tmp_path / 'd.npz'
  description = datasets.dataset_description(f'npz:{path}', 'test', None, 3)
  assert description['name'] == 'npz' and description['split'] is None
  assert description['path'] == str(path) and description['offset'] == 3
  assert description['num_images'] is None
  json.dumps(description)
  with pytest.raises(DatasetError):
    datasets.dataset_description('svhn', 'test', 5, 0)
  with pytest.raises(DatasetError):
    datasets.dataset_description('mnist', 'test', 0, 0)


# TensorFlow Datasets, offline.


@pytest.fixture(scope='module')
def prepared_mnist(tmp_path_factory, no_network):  # pylint: disable=unused-argument
  """A TFDS data dir with MNIST prepared from TFRD_DATA_DIR, once a module.

  Returns:
    (TFDS data dir, the first 5 test images as loaded while preparing).
  """
  if not os.environ.get(datasets.DATA_DIR_ENV):
    pytest.skip(f'{datasets.DATA_DIR_ENV} is unset: no original MNIST files '
                'to prepare TFDS mnist from offline.')
  tfds_dir = str(tmp_path_factory.mktemp('tfds'))
  # data_dir=None: the environment variable is what is tested here.
  images = datasets.load_dataset('mnist', num_images=5, split='test',
                                 tfds_data_dir=tfds_dir)
  return tfds_dir, images


@pytest.mark.slow
def test_mnist_prepares_from_raw_files_then_loads_offline(prepared_mnist,
                                                          monkeypatch):
  tfds_dir, images = prepared_mnist
  assert images.shape == (5, 28, 28, 1)
  assert images.dtype == np.float32
  assert images.min() >= 0.0 and images.max() <= 1.0 and images.max() > 0.5
  # Only the prepared dataset is left: the gunzipped copies went with the
  # temporary download dir.
  assert sorted(os.listdir(tfds_dir)) == ['mnist']
  assert os.listdir(os.path.join(tfds_dir, 'mnist')) == ['3.0.1']
  # Once prepared, the raw files are no longer needed.
  monkeypatch.delenv(datasets.DATA_DIR_ENV)
  again = datasets.load_dataset('mnist', num_images=5, data_dir=None,
                                tfds_data_dir=tfds_dir)
  np.testing.assert_array_equal(again, images)
  np.testing.assert_array_equal(
      datasets.load_dataset('mnist', num_images=2, offset=3,
                            tfds_data_dir=tfds_dir), images[3:5])
  # uint8 / 255 exactly.
  np.testing.assert_array_equal(np.round(images * 255) / 255, images)


@pytest.mark.slow
def test_mnist_reads_tfds_data_dir_env_and_train_split(prepared_mnist,
                                                       monkeypatch):
  tfds_dir, test_images = prepared_mnist
  monkeypatch.delenv(datasets.DATA_DIR_ENV)
  monkeypatch.setenv('TFDS_DATA_DIR', tfds_dir)
  train = datasets.load_dataset('mnist', num_images=3, split='train')
  assert train.shape == (3, 28, 28, 1)
  assert not np.array_equal(train, test_images[:3])
  with pytest.raises(DatasetError, match='holds 10000 images'):
    datasets.load_dataset('mnist', num_images=2, offset=9999)


def _raw_mnist_test_split():
  """The original t10k files: images [N, 784] uint8 and labels [N]."""
  import gzip  # pylint: disable=g-import-not-at-top
  folder = os.path.join(os.environ[datasets.DATA_DIR_ENV], 'mnist')
  with gzip.open(os.path.join(folder, 't10k-images-idx3-ubyte.gz')) as stream:
    images = np.frombuffer(stream.read(), np.uint8, offset=16)
  with gzip.open(os.path.join(folder, 't10k-labels-idx1-ubyte.gz')) as stream:
    labels = np.frombuffer(stream.read(), np.uint8, offset=8)
  return images.reshape(-1, 784), labels


@pytest.mark.slow
def test_mnist_labels_are_those_of_the_loaded_images(prepared_mnist):
  """Each label is the one the original files give the same image (TFDS
  reorders the split; the images are matched byte for byte)."""
  tfds_dir, unused = prepared_mnist
  images = datasets.load_dataset('mnist', 30, offset=4,
                                 tfds_data_dir=tfds_dir)
  labels = datasets.load_labels('mnist', 30, offset=4, tfds_data_dir=tfds_dir)
  assert labels.dtype == np.int64 and labels.shape == (30,)
  raw_images, raw_labels = _raw_mnist_test_split()
  index = {row.tobytes(): label for row, label in zip(raw_images,
                                                      raw_labels)}
  pixels = np.round(images.reshape(30, 784) * 255).astype(np.uint8)
  assert [index[row.tobytes()] for row in pixels] == labels.tolist()


def test_npz_has_no_labels(tmp_path):
  path = _write_npz(tmp_path, x=np.zeros((3, 2)))
  with pytest.raises(DatasetError, match='holds images only'):
    datasets.load_labels(f'npz:{path}')


def _assert_offline_message(error):
  """`error` is the one line naming the four files and where to put them."""
  message = str(error)
  assert isinstance(error, DatasetError)
  assert '\n' not in message
  assert message.startswith('MNIST could not be downloaded from https://')
  assert '(no network?)' in message
  for name in _MNIST_FILES:
    assert name in message
  assert 'into DIR/mnist/' in message
  assert '--data_dir=DIR' in message
  assert f'{datasets.DATA_DIR_ENV}=DIR' in message


def _tfrd_lines(err):
  return [line for line in err.splitlines() if line.startswith('tfrd:')]


def _assert_no_progress_bars(text):
  # tqdm redraws with carriage returns and cursor-up escapes, and draws
  # blocks and rates.
  for mark in ('\r', '\x1b[', '\u2588', '%|', 'examples/s', 'url/s',
               'Dl Completed', 'Generating', 'Shuffling'):
    assert mark not in text, mark


def test_mnist_unprepared_without_raw_files_asks_for_tfrd_data_dir(
    tmp_path, monkeypatch, capfd, no_network):
  """No local files: TFDS may download, but offline the connection check
  fails at once (TFDS itself would retry for minutes) with one line naming
  the four files and where to put them."""
  from tensorflow_datasets.core.utils import tqdm_utils  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  def no_download(*unused_args, **unused_kwargs):
    raise AssertionError('TFDS must not be asked to download offline')

  monkeypatch.setattr(tfds.builder_cls('mnist'), 'download_and_prepare',
                      no_download)
  monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
  tfds_dir = tmp_path / 'tfds'
  del no_network[:]
  start = time.monotonic()
  with pytest.raises(DatasetError) as info:
    datasets.load_dataset('mnist', 5, tfds_data_dir=str(tfds_dir))
  assert time.monotonic() - start < 20
  _assert_offline_message(info.value)
  assert 'storage.googleapis.com' in str(info.value)
  # The check did try the host TFDS downloads MNIST from, and failed as this
  # offline machine does.
  assert no_network == ['storage.googleapis.com']
  assert 'NameResolutionError' in repr(info.value.__cause__)
  # The error is all there is: no "preparing" line, nothing half-prepared.
  captured = capfd.readouterr()
  assert _tfrd_lines(captured.err) == []
  assert not (tfds_dir / 'mnist' / '3.0.1').exists()
  assert tqdm_utils._active  # pylint: disable=protected-access


def test_mnist_download_failing_in_tfds_gives_the_offline_message(
    tmp_path, monkeypatch, capfd):
  """The connection check passes, then TFDS's own download cannot connect
  (the requests ConnectionError an unreachable host gives it)."""
  import logging  # pylint: disable=g-import-not-at-top
  import requests  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core.utils import tqdm_utils  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  calls = []

  def unreachable(unused_builder, **kwargs):
    calls.append(dict(kwargs, bars=tqdm_utils._active,  # pylint: disable=protected-access
                      absl_level=logging.getLogger('absl').level))
    print('Downloading and preparing dataset (TFDS prints this)')
    raise requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='storage.googleapis.com', port=443): Max "
        'retries exceeded with url: /cvdf-datasets/mnist/'
        't10k-images-idx3-ubyte.gz (Caused by NameResolutionError(...))')

  monkeypatch.setattr(datasets, '_check_connection', lambda url: None)
  monkeypatch.setattr(tfds.builder_cls('mnist'), 'download_and_prepare',
                      unreachable)
  monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
  absl_level = logging.getLogger('absl').level
  tfds_dir = tmp_path / 'tfds'
  with pytest.raises(DatasetError) as info:
    datasets.load_dataset('mnist', 5, tfds_data_dir=str(tfds_dir))
  _assert_offline_message(info.value)
  assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)
  # TFDS's own download: no manual files, its normal configuration; bars and
  # INFO logging off meanwhile, and back afterwards.
  [call] = calls
  assert call['download_config'].manual_dir is None
  assert call['bars'] is False
  assert call['absl_level'] >= logging.WARNING
  assert tqdm_utils._active  # pylint: disable=protected-access
  assert logging.getLogger('absl').level == absl_level
  captured = capfd.readouterr()
  assert captured.out == ''
  [line] = _tfrd_lines(captured.err)
  assert line.startswith('tfrd: downloading MNIST')
  assert str(tfds_dir) in line and 'once; later runs read it' in line


# Where MNIST comes from.


def _raw_dir(tmp_path, name='raw'):
  """A directory with mnist/ holding (stand-ins for) the four files."""
  folder = tmp_path / name / 'mnist'
  folder.mkdir(parents=True)
  for file_name in _MNIST_FILES:
    (folder / file_name).write_bytes(b'')
  return tmp_path / name


def test_mnist_source_reads_a_prepared_copy_first(tmp_path, monkeypatch):
  raw = _raw_dir(tmp_path)
  monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
  assert datasets.mnist_source(True) == (datasets.MNIST_PREPARED, None)
  # Local files, even a directory lacking them, are not looked at then.
  assert datasets.mnist_source(True, str(raw)) == (datasets.MNIST_PREPARED,
                                                   None)
  monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path / 'empty'))
  assert datasets.mnist_source(True) == (datasets.MNIST_PREPARED, None)


def test_mnist_source_prepares_from_local_files(tmp_path, monkeypatch):
  raw = _raw_dir(tmp_path)
  other = _raw_dir(tmp_path, 'other')
  folder = (datasets.MNIST_FROM_FILES, str(raw / 'mnist'))
  monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
  assert datasets.mnist_source(False, str(raw)) == folder
  assert datasets.mnist_source(False, raw) == folder  # A path object.
  # The mnist/ folder itself is accepted too.
  assert datasets.mnist_source(False, str(raw / 'mnist')) == folder
  monkeypatch.setenv(datasets.DATA_DIR_ENV, str(raw))
  assert datasets.mnist_source(False) == folder
  # The argument wins over the variable.
  assert datasets.mnist_source(False, str(other)) == (
      datasets.MNIST_FROM_FILES, str(other / 'mnist'))


def test_mnist_source_downloads_without_local_files(monkeypatch, no_network):
  monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
  del no_network[:]
  assert datasets.mnist_source(False) == (datasets.MNIST_DOWNLOAD, None)
  assert datasets.mnist_source(False, '') == (datasets.MNIST_DOWNLOAD, None)
  monkeypatch.setenv(datasets.DATA_DIR_ENV, '')
  assert datasets.mnist_source(False) == (datasets.MNIST_DOWNLOAD, None)
  # The choice alone reaches for nothing.
  assert no_network == []


def test_mnist_source_never_downloads_for_a_directory_lacking_files(
    tmp_path, monkeypatch):
  """Whoever names a directory means to stay offline."""
  monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
  with pytest.raises(DatasetError, match='lacks'):
    datasets.mnist_source(False, str(tmp_path))
  monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
  with pytest.raises(DatasetError, match=datasets.DATA_DIR_ENV):
    datasets.mnist_source(False)


@pytest.mark.slow  # prepares MNIST with TFDS, like the tests above
def test_mnist_prepares_from_local_files_with_one_tfrd_line(
    tmp_path, monkeypatch, capfd):
  """TFDS's progress bars, INFO logging and stdout lines are replaced by one
  line of tfrd's, printed only while preparing."""
  if not os.environ.get(datasets.DATA_DIR_ENV):
    pytest.skip(f'{datasets.DATA_DIR_ENV} is unset: no original MNIST files '
                'to prepare TFDS mnist from offline.')
  data_dir = os.environ[datasets.DATA_DIR_ENV]
  monkeypatch.delenv(datasets.DATA_DIR_ENV)
  tfds_dir = str(tmp_path / 'tfds')
  capfd.readouterr()
  images = datasets.load_dataset('mnist', 2, data_dir=data_dir,
                                 tfds_data_dir=tfds_dir)
  assert images.shape == (2, 28, 28, 1)
  captured = capfd.readouterr()
  assert _tfrd_lines(captured.err) == [
      f'tfrd: preparing MNIST for TensorFlow Datasets in {tfds_dir} from '
      f'{os.path.join(os.path.expanduser(data_dir), "mnist")} (once; later '
      'runs read it)']
  _assert_no_progress_bars(captured.err)
  assert 'Variant folder' not in captured.err
  assert captured.out == ''
  # A later run reads the prepared copy without a word.
  np.testing.assert_array_equal(
      datasets.load_dataset('mnist', 2, tfds_data_dir=tfds_dir), images)
  captured = capfd.readouterr()
  assert _tfrd_lines(captured.err) == []
  _assert_no_progress_bars(captured.err)
  assert captured.out == ''


def test_mnist_raw_dir_lacking_files_names_them(tmp_path, monkeypatch):
  raw = tmp_path / 'raw'
  (raw / 'mnist').mkdir(parents=True)
  (raw / 'mnist' / _MNIST_FILES[0]).write_bytes(b'')
  monkeypatch.setenv(datasets.DATA_DIR_ENV, str(raw))
  with pytest.raises(DatasetError, match=datasets.DATA_DIR_ENV) as info:
    datasets.load_dataset('mnist', 5, tfds_data_dir=str(tmp_path / 'tfds'))
  for name in _MNIST_FILES[1:]:
    assert name in str(info.value)
  # The argument wins over the variable and is named as the culprit.
  with pytest.raises(DatasetError, match='data_dir = ') as info:
    datasets.load_dataset('mnist', 5, data_dir=str(tmp_path / 'empty'),
                          tfds_data_dir=str(tmp_path / 'tfds'))


def test_mnist_raw_files_with_wrong_checksums(tmp_path, monkeypatch):
  raw = tmp_path / 'mnist'
  raw.mkdir()
  for name in _MNIST_FILES:
    (raw / name).write_bytes(b'not mnist')
  monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
  # The mnist/ folder itself is accepted as data_dir as well.
  with pytest.raises(DatasetError, match='not the original ones'):
    datasets.load_dataset('mnist', 5, data_dir=str(raw),
                          tfds_data_dir=str(tmp_path / 'tfds'))


def test_cifar10_unprepared_says_to_prepare_it_with_tfds(tmp_path):
  with pytest.raises(DatasetError, match='CIFAR-10.*not prepared') as info:
    datasets.load_dataset('cifar10', 5, tfds_data_dir=str(tmp_path))
  assert 'download_and_prepare' in str(info.value)
