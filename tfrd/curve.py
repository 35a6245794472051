"""`RDCurve`: an estimated rate-prior distortion curve and its files.

On disk (README.md, "What a run prints and writes"), in one directory:

- `curve.json`: `{"format": "tfrd.rd_curve/1", "points": [{"beta", "rate",
  "distortion", "log_z", ...}], "config": {...}, "timing": {...}, ...}` with
  rate in nats per image and distortion per image, both averaged over images;
- `curve.csv`: the same points as a table;
- `curve.npz`: the per-image estimates, so a curve reloads exactly;
- `curve.png`: the plotted curve (written by `tfrd.plotting`).

`curve.json` may carry a `bdmc` field: a list of BDMC gaps measured at
points of the curve (`RDCurve.bdmc`; written by `apps.rd_curve
--bdmc_points`), one dict per point with at least `beta` and `mean_gap`.
Files without it load with `bdmc` None. Its `accuracy` field
(`RDCurve.accuracy`, `tfrd.accuracy.describe`) sums the check up: the gaps,
the check's cost beside the curve's, the target and the schedule search.
"""

import collections
import csv
import json
import os

import numpy as np

from tfrd import files

__all__ = ['RDCurve', 'RunRecord', 'FORMAT']

FORMAT = 'tfrd.rd_curve/1'
_PER_IMAGE = ('rate', 'distortion', 'log_z', 'effective_sample_size')
_CSV_COLUMNS = ('beta', 'rate', 'distortion', 'log_z', 'rate_stderr',
                'distortion_stderr', 'log_z_stderr', 'min_effective_sample_size',
                'accept_rate')


class RunRecord(
    collections.namedtuple(
        'RunRecord',
        ['accept_rate', 'timing', 'step_size_table', 'latents'])):
  """What an AIS run recorded besides its estimates (all optional).

  Attributes:
    accept_rate: [P] mean HMC acceptance over the chunk that ended at each
      RD point (of the reported run).
    timing: JSON-serializable dict of wall times (seconds by phase).
    step_size_table: [segments, N·C] float64 per-chain step sizes the
      reported run used (`tfrd.step_sizes`), which a later run on the same
      images and schedule can replay (`ChainSettings(step_size_table=...)`).
    latents: [P, N, D] float32, one latent per RD point and image drawn
      from the AIS distribution q_k^AIS (eq. 12), for reconstructions.
  """
  __slots__ = ()

  def __new__(cls, accept_rate=None, timing=None, step_size_table=None,
              latents=None):
    return super().__new__(cls, accept_rate, timing, step_size_table,
                           latents)


class RDCurve:
  """Rate-prior distortion estimates at a sequence of inverse temperatures.

  Per-image arrays have shape [P, N] (points × images); the properties
  `rate`, `distortion` and `log_z` are their means over images, which is what
  the paper plots.

  Args:
    betas: [P] inverse temperatures.
    rate_per_image: [P, N] R̂ in nats (eq. 15).
    distortion_per_image: [P, N] D̂ (eq. 14).
    log_z_per_image: [P, N] log Ẑ (eq. 14).
    effective_sample_size_per_image: optional [P, N].
    image_indices: optional [N] indices of the images in their dataset.
    is_nll: whether the distortion is a negative log-likelihood, in which
      case the β = 1 point gives log p(x) = log Z_1 = -(R_1 + D_1) (Prop. 2c).
    config: JSON-serializable run configuration.
    run: optional `RunRecord` of the run that made the curve (acceptance
      rates, wall times, step-size table, latents); its fields become the
      attributes of the same names.
    bdmc: optional list of JSON-serializable dicts, one per BDMC point, each
      with at least `beta` (the inverse temperature the data were simulated
      at) and `mean_gap` (upper - lower bound on log Z_β in nats, averaged
      over the simulated images); None when no BDMC was run.

  Attributes:
    betas, rate_per_image, distortion_per_image, log_z_per_image,
    effective_sample_size_per_image, image_indices, is_nll, config, bdmc: as
      given (arrays as float64 NumPy arrays; effective sample sizes NaN and
      image indices 0..N-1 when not given).
    accept_rate: [P] HMC acceptance near each point (NaN when unknown).
    timing: dict of wall times (empty when unknown).
    step_size_table: [segments, N·C] step sizes of the reported run, or None
      (a curve loaded from files has none: they are not saved).
    latents: [P, N, D] one latent per point and image from q^AIS, or None
      (likewise not saved).
    accuracy: None, or the JSON-serializable summary of the curve's
      accuracy check (`tfrd.accuracy.describe`), set by whoever ran it.
  """

  def __init__(self, betas, rate_per_image, distortion_per_image,
               log_z_per_image, effective_sample_size_per_image=None,
               image_indices=None, is_nll=False, config=None, run=None,
               bdmc=None):
    run = RunRecord() if run is None else run
    self.betas = np.asarray(betas, dtype=np.float64).reshape(-1)
    self.rate_per_image = self._per_image(rate_per_image)
    self.distortion_per_image = self._per_image(distortion_per_image)
    self.log_z_per_image = self._per_image(log_z_per_image)
    num_images = self.rate_per_image.shape[1]
    if effective_sample_size_per_image is None:
      effective_sample_size_per_image = np.full_like(self.rate_per_image,
                                                     np.nan)
    self.effective_sample_size_per_image = self._per_image(
        effective_sample_size_per_image)
    self.accept_rate = (
        np.full(self.betas.shape, np.nan) if run.accept_rate is None
        else np.asarray(run.accept_rate, np.float64).reshape(-1))
    self.image_indices = (np.arange(num_images) if image_indices is None else
                          np.asarray(image_indices, np.int64).reshape(-1))
    self.is_nll = bool(is_nll)
    self.config = dict(config or {})
    self.timing = dict(run.timing or {})
    self.step_size_table = (None if run.step_size_table is None else
                            np.asarray(run.step_size_table))
    self.latents = None if run.latents is None else np.asarray(run.latents)
    self.bdmc = None if bdmc is None else [dict(point) for point in bdmc]
    self.accuracy = None

  def _per_image(self, values):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
      values = values[:, np.newaxis]
    if values.shape[0] != self.betas.size:
      raise ValueError(f'Expected {self.betas.size} points, got array of shape '
                       f'{values.shape}.')
    return values

  @property
  def num_images(self):
    return self.rate_per_image.shape[1]

  @property
  def rate(self):
    """[P] rate in nats per image, averaged over images."""
    return self.rate_per_image.mean(axis=1)

  @property
  def distortion(self):
    """[P] distortion per image, averaged over images."""
    return self.distortion_per_image.mean(axis=1)

  @property
  def log_z(self):
    """[P] log Ẑ_β per image, averaged over images."""
    return self.log_z_per_image.mean(axis=1)

  def _stderr(self, values):
    if self.num_images < 2:
      return np.full(self.betas.shape, np.nan)
    return values.std(axis=1, ddof=1) / np.sqrt(self.num_images)

  @property
  def log_likelihood(self):
    """Mean log p(x) in nats at β = 1 for an NLL distortion, else None."""
    if not self.is_nll:
      return None
    exact_one = np.nonzero(self.betas == 1.0)[0]
    if exact_one.size == 0:
      return None
    return float(self.log_z[exact_one[0]])

  def points(self):
    """The curve as a list of dicts, one per point (as in `curve.json`)."""
    columns = {
        'beta': self.betas,
        'rate': self.rate,
        'distortion': self.distortion,
        'log_z': self.log_z,
        'rate_stderr': self._stderr(self.rate_per_image),
        'distortion_stderr': self._stderr(self.distortion_per_image),
        'log_z_stderr': self._stderr(self.log_z_per_image),
        'min_effective_sample_size': self.effective_sample_size_per_image.min(
            axis=1),
        'accept_rate': self.accept_rate,
    }
    return [{name: _json_float(columns[name][i]) for name in _CSV_COLUMNS}
            for i in range(self.betas.size)]

  def to_json_dict(self):
    """The `curve.json` document."""
    document = {
        'format': FORMAT,
        'points': self.points(),
        'num_images': self.num_images,
        'image_indices': self.image_indices.tolist(),
        'is_nll': self.is_nll,
        'config': self.config,
        'timing': self.timing,
    }
    if self.log_likelihood is not None:
      document['log_likelihood'] = self.log_likelihood
    if self.bdmc is not None:
      document['bdmc'] = self.bdmc
    if self.accuracy is not None:
      document['accuracy'] = self.accuracy
    return document

  def save(self, output_dir, plot=True):
    """Writes curve.json, curve.csv, curve.npz (and curve.png) atomically.

    Returns:
      Dict from file kind to path.
    """
    os.makedirs(output_dir, exist_ok=True)
    paths = {kind: os.path.join(output_dir, 'curve.' + kind)
             for kind in ('json', 'csv', 'npz')}

    with files.atomic_write(paths['json']) as stream:
      json.dump(self.to_json_dict(), stream, indent=1)
      stream.write('\n')
    with files.atomic_write(paths['csv'], newline='') as stream:
      writer = csv.DictWriter(stream, fieldnames=_CSV_COLUMNS)
      writer.writeheader()
      for point in self.points():
        writer.writerow({k: '' if v is None else repr(v)
                         for k, v in point.items()})
    with files.atomic_write(paths['npz'], 'wb') as stream:
      np.savez(stream, betas=self.betas, image_indices=self.image_indices,
               accept_rate=self.accept_rate,
               **{name: getattr(self, name + '_per_image')
                  for name in _PER_IMAGE})
    if plot:
      from tfrd import plotting  # pylint: disable=g-import-not-at-top
      paths['png'] = os.path.join(output_dir, 'curve.png')
      plotting.plot_curves({self.config.get('label', 'AIS'): self},
                           paths['png'], title=self.config.get('title'))
    return paths

  @classmethod
  def load(cls, path):
    """Loads a curve saved by `save`, from its directory or `curve.json`.

    Per-image values come from `curve.npz` when it is there; otherwise each
    point's mean is loaded as a single pseudo-image.

    Raises:
      ValueError: if the file is not a tfrd curve.
    """
    json_path = (os.path.join(path, 'curve.json') if os.path.isdir(path)
                 else path)
    with open(json_path) as stream:
      document = json.load(stream)
    if document.get('format') != FORMAT:
      raise ValueError(f'{json_path} is not a {FORMAT} file '
                       f'(format={document.get("format")!r}).')
    points = document['points']
    betas = [point['beta'] for point in points]
    npz_path = os.path.join(os.path.dirname(json_path), 'curve.npz')
    common = dict(is_nll=document.get('is_nll', False),
                  config=document.get('config'), bdmc=document.get('bdmc'))
    if os.path.exists(npz_path):
      with np.load(npz_path) as arrays:
        curve = cls(arrays['betas'], *(arrays[name] for name in _PER_IMAGE),
                    image_indices=arrays['image_indices'],
                    run=RunRecord(accept_rate=arrays['accept_rate'],
                                  timing=document.get('timing')),
                    **common)
    else:
      column = lambda name: [np.nan if p.get(name) is None else p[name]
                             for p in points]
      curve = cls(betas, column('rate'), column('distortion'),
                  column('log_z'), column('min_effective_sample_size'),
                  run=RunRecord(accept_rate=column('accept_rate'),
                                timing=document.get('timing')), **common)
    curve.accuracy = document.get('accuracy')
    return curve


def _json_float(value):
  value = float(value)
  return value if np.isfinite(value) else None
