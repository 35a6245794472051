"""adapters.datasets loads images offline and says clearly when it cannot."""

import json
import os

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


@pytest.fixture(scope='session')
def prepared_mnist(tmp_path_factory):
  """A TFDS data dir with MNIST prepared from TFRD_DATA_DIR, once a session.

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


def test_mnist_unprepared_without_raw_files_asks_for_tfrd_data_dir(
    tmp_path, monkeypatch):
  monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
  with pytest.raises(DatasetError, match='not prepared') as info:
    datasets.load_dataset('mnist', 5, tfds_data_dir=str(tmp_path))
  assert datasets.DATA_DIR_ENV in str(info.value)
  assert '--data_dir' in str(info.value)


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
