"""Loading the images a rate-distortion curve is measured on.

A dataset is named by a short spec string, so that a command line flag and the
`config` of a saved curve can both hold it:

- `'mnist'`: MNIST through TensorFlow Datasets (TFDS), float32
  [N, 28, 28, 1] in [0, 1].
- `'cifar10'`: CIFAR-10 through TFDS, float32 [N, 32, 32, 3] in [0, 1].
- `'npz:PATH'`: the array stored under key `x` of a NumPy `.npz` file, any
  shape with images on the leading axis, converted to float32 as is.

Where MNIST comes from (`mnist_source` makes the choice):

1. A copy already prepared in the TFDS data directory is read as is, offline.
2. Otherwise, if local original files are given, TFDS prepares MNIST from
   them without touching the network: the four gzip files, in a `mnist/`
   folder of the directory named by the `data_dir` argument (the apps'
   `--data_dir`) or else the environment variable `TFRD_DATA_DIR`. A
   directory given without all four files is an error, not a reason to
   download.
3. Otherwise TFDS downloads MNIST (about 12 MB) with its usual
   `download_and_prepare`, as any TFDS user would expect: nobody should have
   to find the original files just to try tfrd on a machine with a network.
   On a machine without one, a quick connection check (TFDS itself retries
   for minutes) ends in a `DatasetError` of one line naming the four files
   and where to put them.

Preparing happens once, into the TFDS data directory; TFDS's progress bars,
INFO logging and stdout lines are silenced meanwhile, and one `tfrd:` line on
stderr says what is going on. Later runs read the prepared copy silently.
CIFAR-10 has no such routes here and must already be prepared in the TFDS
data directory.

Images come in TFDS's own fixed order of each split (not the order of the
original files), so the first N images of a split are the same on every run.
"""

import contextlib
import io
import logging
import numbers
import os
import sys
import tempfile
import urllib.error
import urllib.parse

import numpy as np

__all__ = [
    'DATA_DIR_ENV',
    'DatasetError',
    'MNIST_DOWNLOAD',
    'MNIST_FROM_FILES',
    'MNIST_PREPARED',
    'dataset_description',
    'load_dataset',
    'load_labels',
    'mnist_source',
]

# Where MNIST comes from, as `mnist_source` returns it.
MNIST_PREPARED = 'prepared'  # Read the copy prepared in the TFDS data dir.
MNIST_FROM_FILES = 'files'  # Prepare it offline from the original files.
MNIST_DOWNLOAD = 'download'  # Let TFDS download and prepare it.

# The one environment variable tfrd reads for data: a directory holding
# `mnist/` with the four original MNIST gzip files.
DATA_DIR_ENV = 'TFRD_DATA_DIR'

# TFDS's own variable for where prepared datasets live, honoured as TFDS does.
_TFDS_DATA_DIR_ENV = 'TFDS_DATA_DIR'
_TFDS_DEFAULT_DATA_DIR = os.path.join('~', 'tensorflow_datasets')

# Versions are pinned so that a curve's config names exactly the data it was
# measured on, whatever version a later TFDS would pick by default.
_TFDS_NAMES = {
    'mnist': 'mnist:3.0.1',
    'cifar10': 'cifar10:3.0.2',
}
_TFDS_SPLITS = ('train', 'test')
_NPZ_PREFIX = 'npz:'
_NPZ_KEY = 'x'
_ACCEPTED_FORMS = "'mnist', 'cifar10' or 'npz:PATH'"

# File names TFDS's mnist builder expects in its manual folder; it checks each
# one against its registered sha256.
_MNIST_FILES = (
    'train-images-idx3-ubyte.gz',
    'train-labels-idx1-ubyte.gz',
    't10k-images-idx3-ubyte.gz',
    't10k-labels-idx1-ubyte.gz',
)
# Where TFDS's mnist builder downloads them from (its `URL`; this copy is a
# fallback should a TFDS version drop that attribute), and their total size.
_MNIST_URL = 'https://storage.googleapis.com/cvdf-datasets/mnist/'
_MNIST_DOWNLOAD_SIZE = '11.6 MB'
# Seconds the connection check before a download may take. TFDS's downloader
# retries a failed connection 10 times with growing pauses: about 3.5 minutes
# on a machine without network before it gives up.
_CONNECT_TIMEOUT_S = 10

# Images are decoded and converted in batches of this many, so a large request
# never holds the whole uint8 split and its float32 copy at once.
_READ_BATCH = 1024


class DatasetError(ValueError):
  """A dataset spec, its arguments or the data behind it cannot be used.

  The message says what was wrong and what to do about it.
  """


def load_dataset(spec, num_images=None, split='test', data_dir=None,
                 tfds_data_dir=None, offset=0):
  """Loads the images named by `spec`.

  Args:
    spec: `'mnist'`, `'cifar10'` or `'npz:PATH'` (see the module docstring).
    num_images: how many images to load, a positive integer, or None for all
      images from `offset` on.
    split: TFDS split for `'mnist'` and `'cifar10'`, `'train'` or `'test'`;
      ignored for `'npz:PATH'`.
    data_dir: directory holding `mnist/` with the four original MNIST gzip
      files, used only when MNIST is not yet prepared for TFDS: it is then
      prepared from them, offline. Defaults to the environment variable
      `TFRD_DATA_DIR`; with neither, TFDS downloads MNIST (see
      `mnist_source`).
    tfds_data_dir: TFDS data directory where prepared datasets are read from
      (and MNIST is prepared to). Defaults to the environment variable
      `TFDS_DATA_DIR`, else `~/tensorflow_datasets`.
    offset: index of the first image to load, >= 0.

  Returns:
    float32 array [N, ...] with N = `num_images` (or all images from
    `offset` on). TFDS images are scaled to [0, 1]; npz data is converted to
    float32 unchanged.

  Raises:
    DatasetError: if the spec or an argument is invalid, the data cannot be
      found, prepared or downloaded (no network: the message names the
      files to put in place), or it holds fewer images than asked for.
  """
  name, path = _parse_spec(spec)
  _check_num_images(num_images)
  _check_offset(offset)
  if name == 'npz':
    return _load_npz(path, num_images, offset)
  _check_split(split)
  return _load_tfds(name, split, num_images, offset, data_dir, tfds_data_dir)


def load_labels(spec, num_images=None, split='test', data_dir=None,
                tfds_data_dir=None, offset=0):
  """The class labels of the images `load_dataset` returns for the same
  arguments (e.g. to train the classifier of a deep-feature distortion).

  Args:
    spec: `'mnist'` or `'cifar10'`; npz files hold no labels.
    num_images, split, data_dir, tfds_data_dir, offset: as `load_dataset`.

  Returns:
    int64 array [N] of class indices, in the order of `load_dataset`.

  Raises:
    DatasetError: as `load_dataset`, and for an npz spec.
  """
  name, unused_path = _parse_spec(spec)
  if name == 'npz':
    raise DatasetError(f'{spec!r} holds images only; labels come with '
                       f"'mnist' and 'cifar10'.")
  _check_num_images(num_images)
  _check_offset(offset)
  _check_split(split)
  return _load_tfds(name, split, num_images, offset, data_dir, tfds_data_dir,
                    feature='label')


def dataset_description(spec, split, num_images, offset):
  """JSON-serializable record of a dataset selection, for a curve's config.

  Pass the number of images actually loaded (the length of `load_dataset`'s
  result) as `num_images`, so the record is exact even when all images were
  asked for.

  Args:
    spec: the spec given to `load_dataset`.
    split: the split given to `load_dataset` (recorded as None for npz files,
      which have no splits).
    num_images: number of images, a positive integer, or None.
    offset: index of the first image, >= 0.

  Returns:
    dict with keys `name` ('mnist', 'cifar10' or 'npz'), `spec`, `split`,
    `offset` and `num_images`, plus `tfds_name` (name:version) for TFDS
    datasets or `path` (absolute) for npz files.

  Raises:
    DatasetError: if the spec or an argument is invalid.
  """
  name, path = _parse_spec(spec)
  _check_num_images(num_images)
  _check_offset(offset)
  description = {
      'name': name,
      'spec': spec,
      'split': None,
      'offset': int(offset),
      'num_images': None if num_images is None else int(num_images),
  }
  if name == 'npz':
    description['path'] = os.path.abspath(path)
  else:
    _check_split(split)
    description['split'] = split
    description['tfds_name'] = _TFDS_NAMES[name]
  return description


def mnist_source(prepared, data_dir=None):
  """Where `load_dataset('mnist')` takes MNIST from; touches no network.

  Args:
    prepared: whether the TFDS data directory already holds MNIST prepared
      (TFDS's `builder.is_prepared()`).
    data_dir: as for `load_dataset`: a directory holding `mnist/` (or the
      `mnist/` folder itself) with the four original gzip files. Defaults to
      the environment variable `TFRD_DATA_DIR`.

  Returns:
    (source, folder), one of
    - (`MNIST_PREPARED`, None): read the prepared copy; local files, given or
      not, are not needed.
    - (`MNIST_FROM_FILES`, folder holding the four files): prepare MNIST
      offline from them.
    - (`MNIST_DOWNLOAD`, None): no local files given; TFDS downloads MNIST.

  Raises:
    DatasetError: if MNIST is not prepared and a directory was given (by
      argument or variable) that lacks some of the four files: whoever
      names a directory means to stay offline, so it is not downloaded.
  """
  if prepared:
    return MNIST_PREPARED, None
  manual_dir = _mnist_manual_dir(data_dir)
  if manual_dir is None:
    return MNIST_DOWNLOAD, None
  return MNIST_FROM_FILES, manual_dir


def _parse_spec(spec):
  """Returns (name, npz path or None) of a spec string."""
  if isinstance(spec, str):
    if spec in _TFDS_NAMES:
      return spec, None
    if spec.startswith(_NPZ_PREFIX):
      path = spec[len(_NPZ_PREFIX):]
      if not path:
        raise DatasetError(
            f"Dataset spec {spec!r} has no path after 'npz:'; use "
            "'npz:PATH' with PATH an .npz file holding images under key 'x'.")
      return 'npz', os.path.expanduser(path)
  raise DatasetError(
      f'Unknown dataset spec {spec!r}; accepted forms are {_ACCEPTED_FORMS} '
      "(PATH: an .npz file holding images under key 'x').")


def _check_num_images(num_images):
  # bool is an Integral, but True meaning "1 image" is surely a mistake.
  if num_images is None:
    return
  if (isinstance(num_images, bool) or
      not isinstance(num_images, numbers.Integral) or num_images < 1):
    raise DatasetError(
        f'num_images must be a positive integer or None (all images), got '
        f'{num_images!r}.')


def _check_offset(offset):
  if (isinstance(offset, bool) or not isinstance(offset, numbers.Integral) or
      offset < 0):
    raise DatasetError(
        f'offset must be a non-negative integer, got {offset!r}.')


def _check_split(split):
  if split not in _TFDS_SPLITS:
    raise DatasetError(
        f'split must be one of {", ".join(map(repr, _TFDS_SPLITS))}, got '
        f'{split!r}.')


def _select(count, num_images, offset, what):
  """Returns the end index of images [offset, end) out of `count`."""
  if num_images is None:
    if offset >= count:
      raise DatasetError(
          f'{what} holds {count} images, so offset {offset} leaves none to '
          f'load. Use an offset below {count}.')
    return count
  if offset + num_images > count:
    raise DatasetError(
        f'{what} holds {count} images, fewer than the {offset + num_images} '
        f'needed for num_images={num_images} from offset {offset}. Lower '
        'num_images or offset.')
  return offset + num_images


# npz files.


def _load_npz(path, num_images, offset):
  """Loads images [offset, offset + num_images) of key 'x' of an npz file."""
  if not os.path.isfile(path):
    raise DatasetError(
        f'npz file {path!r} does not exist (resolved to '
        f'{os.path.abspath(path)!r}).')
  try:
    archive = np.load(path, allow_pickle=False)
  except Exception as e:  # pylint: disable=broad-except
    # np.load reports a bad file with several types (ValueError, OSError,
    # EOFError, zipfile.BadZipFile) depending on how it is broken.
    raise DatasetError(
        f'{path!r} is not a valid .npz file ({type(e).__name__}: {e}). Save '
        "images with numpy.savez(path, x=images).") from e
  if not isinstance(archive, np.lib.npyio.NpzFile):
    # np.load also reads .npy and pickles; only an archive has named arrays.
    raise DatasetError(
        f'{path!r} holds a single array, not an .npz archive. Save images '
        "with numpy.savez(path, x=images).")
  with archive:
    keys = sorted(archive.files)
    if _NPZ_KEY not in keys:
      raise DatasetError(
          f"npz file {path!r} has no key '{_NPZ_KEY}' (it has "
          f'{", ".join(map(repr, keys)) or "no arrays"}); store the images '
          f"under '{_NPZ_KEY}', e.g. numpy.savez(path, x=images).")
    try:
      x = archive[_NPZ_KEY]
    except ValueError as e:
      # Object arrays need pickle, which is refused: it can run code.
      raise DatasetError(
          f"Array '{_NPZ_KEY}' of {path!r} cannot be read without pickle "
          f'({e}); store a numeric array.') from e
  if not (np.issubdtype(x.dtype, np.integer) or
          np.issubdtype(x.dtype, np.floating) or x.dtype == np.bool_):
    raise DatasetError(
        f"Array '{_NPZ_KEY}' of {path!r} has dtype {x.dtype}; images must be "
        'numeric (bool, integer or floating point).')
  if x.ndim == 0 or x.shape[0] == 0:
    raise DatasetError(
        f"Array '{_NPZ_KEY}' of {path!r} (shape {x.shape}) holds no images; "
        'images lie along its leading axis.')
  end = _select(x.shape[0], num_images, offset,
                f"Array '{_NPZ_KEY}' of {path!r}")
  # Slice before converting, so only the requested images are copied.
  with np.errstate(over='ignore'):  # Overflow to inf is reported below.
    images = np.asarray(x[offset:end], dtype=np.float32)
  finite = np.isfinite(images)
  if not np.all(finite):
    # Checked after the cast: float64 beyond float32's range becomes inf.
    num_bad = finite.size - np.count_nonzero(finite)
    bad_image = offset + int(np.argmin(finite.reshape(len(images), -1).all(1)))
    raise DatasetError(
        f"Array '{_NPZ_KEY}' of {path!r} has {num_bad} non-finite values "
        '(NaN, or inf once in float32) among the selected images, the first '
        f'in image {bad_image}. Images must be finite.')
  return images


# TensorFlow Datasets.


def _load_tfds(name, split, num_images, offset, data_dir, tfds_data_dir,
               feature='image'):
  """Loads images (or, with feature='label', their labels) [offset, offset
  + num_images) of a TFDS split, preparing MNIST first if needed."""
  # Imported here: TFDS (and TensorFlow) take seconds to import, and npz
  # files do not need them.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  tfds_data_dir = _tfds_data_dir(tfds_data_dir)
  builder = tfds.builder(_TFDS_NAMES[name], data_dir=tfds_data_dir)
  # Asked of a missing folder, TFDS warns that it has no dataset_info.json.
  prepared = builder.data_path.exists() and builder.is_prepared()
  if name == 'mnist':
    source, manual_dir = mnist_source(prepared, data_dir)
    if source != MNIST_PREPARED:
      _prepare_mnist(tfds, builder, tfds_data_dir, manual_dir)
  elif not prepared:
    raise DatasetError(
        f'CIFAR-10 ({_TFDS_NAMES[name]}) is not prepared in the TFDS data '
        f'directory {tfds_data_dir!r}, and tfrd loads it offline only. '
        'Prepare it with TFDS first, e.g. on a machine with network access: '
        "tfds.builder('cifar10', data_dir=DIR).download_and_prepare(); "
        f'then set {_TFDS_DATA_DIR_ENV} to DIR or pass --tfds_data_dir=DIR.')

  count = builder.info.splits[split].num_examples
  end = _select(count, num_images, offset,
                f'TFDS {_TFDS_NAMES[name]} split {split!r}')
  # A sliced split makes TFDS read only the records asked for. download=False
  # is implied by as_dataset: it never fetches anything.
  ds = builder.as_dataset(
      split=f'{split}[{offset}:{end}]',
      shuffle_files=False,
      read_config=tfds.ReadConfig(try_autocache=False))
  ds = ds.map(lambda example: example[feature]).batch(_READ_BATCH)
  if feature == 'label':
    labels = np.concatenate([batch for batch in tfds.as_numpy(ds)] +
                            [np.zeros(0, np.int64)]).astype(np.int64)
    if len(labels) != end - offset:
      raise DatasetError(
          f'TFDS {_TFDS_NAMES[name]} split {split!r} in {tfds_data_dir!r} '
          f'gave {len(labels)} labels where {end - offset} were expected; '
          'the prepared copy may be damaged. Delete it and load again.')
    return labels
  shape = tuple(builder.info.features['image'].shape)
  images = np.empty((end - offset,) + shape, dtype=np.float32)
  filled = 0
  for batch in tfds.as_numpy(ds):
    np.divide(batch, 255.0, out=images[filled:filled + len(batch)],
              casting='unsafe')
    filled += len(batch)
  if filled != len(images):
    raise DatasetError(
        f'TFDS {_TFDS_NAMES[name]} split {split!r} in {tfds_data_dir!r} gave '
        f'{filled} images where {len(images)} were expected; the prepared '
        'copy may be damaged. Delete it and load again.')
  return images


def _tfds_data_dir(tfds_data_dir):
  if not tfds_data_dir:
    tfds_data_dir = (os.environ.get(_TFDS_DATA_DIR_ENV) or
                     _TFDS_DEFAULT_DATA_DIR)
  return os.path.expanduser(os.fspath(tfds_data_dir))


def _mnist_manual_dir(data_dir):
  """Returns the folder with the four MNIST gzip files, or None if not given.

  Raises:
    DatasetError: if a directory was given but lacks some of the files.
  """
  source = 'data_dir'
  if not data_dir:
    data_dir, source = os.environ.get(DATA_DIR_ENV), DATA_DIR_ENV
  if not data_dir:
    return None
  data_dir = os.path.expanduser(os.fspath(data_dir))
  candidates = [os.path.join(data_dir, 'mnist'), data_dir]
  for candidate in candidates:
    # The mnist folder itself is accepted too: an easy slip to make.
    if all(os.path.isfile(os.path.join(candidate, f)) for f in _MNIST_FILES):
      return candidate
  # Any file missing would make TFDS fall back to downloading it.
  folder = candidates[0]
  missing = [f for f in _MNIST_FILES
             if not os.path.isfile(os.path.join(folder, f))]
  raise DatasetError(
      f'{source} = {data_dir!r} should hold a folder mnist/ with the four '
      f'original MNIST files ({", ".join(_MNIST_FILES)}), but '
      f'{folder!r} lacks {", ".join(missing)}.')


def _prepare_mnist(tfds, builder, tfds_data_dir, manual_dir):
  """Prepares MNIST for TFDS once, quietly but for one line on stderr.

  From the original gzip files in `manual_dir`, offline; or, if it is None,
  from a download by TFDS.
  """
  if manual_dir is None:
    url = _mnist_url(builder)
    # Fails at once on a machine without network, where TFDS would retry for
    # minutes; nothing is printed before then but the error.
    _check_connection(url)
    download_config = tfds.download.DownloadConfig()
    line = (f'tfrd: downloading MNIST ({_MNIST_DOWNLOAD_SIZE}) and preparing '
            f'it for TensorFlow Datasets in {tfds_data_dir} (once; later runs '
            'read it)')
  else:
    url = None
    download_config = tfds.download.DownloadConfig(
        manual_dir=manual_dir,
        # No prepared copy from Google Cloud Storage: stay offline.
        try_download_gcs=False)
    line = (f'tfrd: preparing MNIST for TensorFlow Datasets in '
            f'{tfds_data_dir} from {manual_dir} (once; later runs read it)')
  print(line, file=sys.stderr, flush=True)
  try:
    # TFDS gunzips the files (~53 MB) into the download dir; the prepared
    # dataset (~23 MB) is all that is kept.
    with tempfile.TemporaryDirectory(prefix='tfrd_mnist_') as download_dir:
      with _quiet_tfds(tfds):
        builder.download_and_prepare(
            download_dir=download_dir, download_config=download_config)
  except ImportError as e:
    # tensorflow-datasets 4.9 imports packages it does not declare (seen:
    # importlib_resources) only when preparing.
    raise DatasetError(
        f'Preparing MNIST with TFDS failed on a missing package ({e}); '
        f'install it (e.g. pip install {e.name or "the missing package"}) '
        'and retry.') from e
  except _download_errors(tfds) as e:
    # Before OSError: requests' and urllib's errors are OSErrors too.
    if url is None:
      raise  # Not expected offline: TFDS reads the manual files.
    raise DatasetError(_not_downloaded_message(url)) from e
  except OSError as e:
    raise DatasetError(
        f'Preparing MNIST into the TFDS data directory {tfds_data_dir!r} '
        f'failed ({e}); make it writable with enough space (~25 MB) or pass '
        'another --tfds_data_dir.') from e
  except Exception as e:  # pylint: disable=broad-except
    if type(e).__name__ != 'NonMatchingChecksumError':
      raise
    # Not importable from a public TFDS module, hence matched by name.
    if url is not None:
      raise DatasetError(
          f'MNIST as downloaded from {url} does not match the checksums TFDS '
          f'registered for it ({e}); retry, or use the original files: '
          f'{_where_to_put_the_files()}') from e
    raise DatasetError(
        f'The MNIST files in {manual_dir!r} are not the original ones (their '
        f'checksums differ: {e}). Replace them with the four original '
        'files.') from e


def _mnist_url(builder):
  """The folder URL TFDS's mnist builder downloads the four files from."""
  return getattr(builder, 'URL', None) or _MNIST_URL


def _where_to_put_the_files():
  return (f'put {", ".join(_MNIST_FILES)} (from the original MNIST '
          'distribution) into DIR/mnist/ and pass --data_dir=DIR (the '
          f'data_dir argument) or set {DATA_DIR_ENV}=DIR.')


def _not_downloaded_message(url):
  """The one line an offline machine gets instead of MNIST."""
  return (f'MNIST could not be downloaded from {url} (no network?): '
          f'{_where_to_put_the_files()}')


def _download_errors(tfds):
  """Exception types meaning that a download could not reach its server.

  TFDS downloads http(s) URLs with requests (an unreachable host raises
  requests.exceptions.ConnectionError, after TFDS's retries), ftp URLs with
  urllib (URLError), and reports an HTTP status other than 200 as its
  DownloadError.
  """
  import requests  # pylint: disable=g-import-not-at-top
  return (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
          urllib.error.URLError, tfds.download.DownloadError)


def _check_connection(url):
  """Raises DatasetError at once if the server of `url` cannot be reached.

  Any HTTP answer counts as reachable (TFDS reports HTTP errors itself).
  Proxies in the environment are used as TFDS's own download uses them.
  """
  import requests  # pylint: disable=g-import-not-at-top
  probe = urllib.parse.urljoin(url, _MNIST_FILES[-1])
  try:
    requests.head(probe, timeout=_CONNECT_TIMEOUT_S,
                  allow_redirects=False).close()
  except (requests.exceptions.ConnectionError,
          requests.exceptions.Timeout) as e:
    raise DatasetError(_not_downloaded_message(url)) from e


@contextlib.contextmanager
def _log_levels_at_least(**levels):
  """Meanwhile, the loggers named (name=level) drop records below `level`.

  A logger already stricter stays so; each gets its own level back afterwards.
  """
  saved = {}
  for name, level in levels.items():
    logger = logging.getLogger(name)
    saved[name] = logger.level
    logger.setLevel(max(level, logger.getEffectiveLevel()))
  try:
    yield
  finally:
    for name, level in saved.items():
      logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _quiet_tfds(tfds):
  """Silences TFDS while it downloads and prepares a dataset.

  TFDS draws tqdm progress bars on stderr (over a hundred lines of escape
  codes when stderr is not a terminal), logs every step at INFO and prints
  two lines to stdout, where they would also mix into an app's own output.
  Meanwhile bars are off, INFO logging and the stdout lines are dropped and
  urllib3's retry warnings too (a failed download ends in a DatasetError);
  warnings and errors of TFDS still show.
  """
  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core.utils import tqdm_utils
  # pylint: enable=g-import-not-at-top
  # TFDS has no getter; restore what was there (the user may have turned the
  # bars off for good).
  bars_were_on = getattr(tqdm_utils, '_active', True)
  tfds.display_progress_bar(False)
  try:
    with _log_levels_at_least(absl=logging.WARNING, urllib3=logging.ERROR):
      with contextlib.redirect_stdout(io.StringIO()):
        yield
  finally:
    tfds.display_progress_bar(bars_were_on)
