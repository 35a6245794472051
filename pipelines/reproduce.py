"""The paper's figures, reproduced: budgets, models, curves, and the steps
they share (train or reuse a model, compute or reuse a curve).

`apps.reproduce` is a thin entry point over `Run` and `run_figure`. Every
step is the one the other apps use: a curve is estimated by
`pipelines.curve_run.estimate` on the schedule `tfrd.schedule_from_settings`
builds, its BDMC gaps are `pipelines.bdmc_points`' records, a zoo model is
trained by `pipelines.training` and the linear VAE compared by
`pipelines.linear_comparison`, as `apps.rd_curve`, `apps.train` and
`apps.linear_vae` do.

Layout of --output_dir (every file listed in `reproduce_manifest.json`, the
record of what apps.reproduce wrote; nothing else is ever replaced unless
--overwrite, and nothing is deleted but tfrd's own AIS checkpoints):

    models/NAME.keras, NAME.json      zoo decoders (shared by the figures)
    models/mnist_classifier.keras, .json   fig6's feature network
    models/NAME_training/             their training checkpoints
    FIGURE/curves/CURVE/curve.*       each curve (apps.rd_curve's files)
    FIGURE/curves/CURVE/checkpoint/   AIS checkpoint while it runs
    FIGURE/results.json, figure.png   the figure's settings, points, plot

A model whose .keras file the manifest lists is reused if it was trained
with the settings the budget gives it; a curve whose curve.json it lists is
reused if it was computed with the settings this code gives it
(`changed_settings`), and computed again otherwise, as is a finished figure
holding such a curve; an interrupted training or AIS run resumes from its
checkpoint.
"""

import contextlib
import dataclasses
import fcntl
import json
import os
import sys
import time

import numpy as np

from pipelines import jobs
from pipelines import output_files
from pipelines import settings as pipeline_settings

FORMAT = 'tfrd.reproduce/1'
MANIFEST = 'reproduce_manifest.json'
MANIFEST_FORMAT = 'tfrd.reproduce_manifest/1'

_PAPER = pipeline_settings.PRESETS['paper']

# Every budget's settings, in one table. Training: images, epochs, batch and
# hidden width of the MLPs (None: appendix D.1's 1024); AIS: images, chains,
# schedule, L, step sizes; figure extras (fig8 seeds, fig9 BDMC betas).
BUDGETS = {
    # A figure in well under two minutes on 2 cores: checks the pipeline,
    # says nothing about the models.
    'smoke': {
        'num_train': 256, 'epochs': 1, 'batch_size': 64, 'width': 32,
        'num_images': 4, 'num_chains': 4, 'schedule': 'geometric',
        'num_intermediate': 60, 'num_rd_points': 5, 'rd_spacing': 'log',
        'beta_min': 1.0 / 12.0, 'beta_max': 100.0, 'min_before_first': 20,
        'min_between': 3, 'leapfrog_steps': 3, 'step_size_mode': 'adaptive',
        'target_accept': 0.65, 'mass_matrix': 'identity', 'jit': False,
        'linear_num_train': 1000,
        'fig8_seeds': [1, 2], 'bdmc_betas': [1.0, 100.0],
        'bdmc_num_images': 2, 'large_code': {},
        # A smoke curve says nothing about accuracy: no default check.
        'accuracy_check': False,
        'quadrature': {'extent': 6.0, 'spacing': 0.1},
        'fig5a_alphas': [0.5, 0.99], 'fig5b_sigmas': [1.0, 2.0],
        'fig5a_likelihood_factor': 2,
        'expected_hours': 'about 1 minute per figure',
    },
    # What a report on 2 CPU cores uses: a few epochs on 10,000 images,
    # appendix D.1's widths, 20 images, 16 chains, 5000 geometric
    # distributions (about 6000 with the fills; L = 2, two passes: ~24,000
    # gradients of a 320-latent batch per curve). Measured (report/cpu/):
    # a shallow curve about 3 min, 5 epochs of a shallow model 1-2 min.
    'cpu': {
        'num_train': 10000, 'epochs': 5, 'batch_size': 64, 'width': None,
        'num_images': 20, 'num_chains': 16, 'schedule': 'geometric',
        'num_intermediate': 5000, 'num_rd_points': 30, 'rd_spacing': 'log',
        'beta_min': 1.0 / 12.0, 'beta_max': 1000.0, 'min_before_first': 1000,
        'min_between': 10, 'leapfrog_steps': 2, 'step_size_mode': 'two_pass',
        'target_accept': 0.65,
        # The committed reports were made with plain HMC; the Hessian mass
        # matrix, tfrd's default since, is for the next ones (issue 35).
        'mass_matrix': 'identity', 'jit': 'auto', 'linear_num_train': 10000,
        'fig8_seeds': [1, 2, 3], 'bdmc_betas': [1.0, 100.0, 1000.0],
        'bdmc_num_images': 8, 'large_code': {}, 'accuracy_check': True,
        # Code-size-2 curves are also summed on a grid (tfrd.quadrature);
        # 32 reaches the AAE-2's codes of the 20 images (|z| up to ~23),
        # 0.02 resolves its posteriors at beta = 1000.
        'quadrature': {'extent': 32.0, 'spacing': 0.02},
        'fig5a_alphas': [0.5, 0.9, 0.99], 'fig5b_sigmas': [0.5, 1.0, 2.0],
        # alpha = 0 and 0.99 again to beta = 1 on a 10x schedule: whether
        # the log-likelihoods' change is the model's or AIS's (claim 6).
        'fig5a_likelihood_factor': 10,
        'expected_hours': 'measured on 2 cores with the default checks: '
                          'fig4 0.8, fig5a 0.8, d4 0.8, fig5b 0.65, '
                          'lossless 0.35, fig8 0.2, fig7 0.01; before the '
                          'checks fig9 0.4; fig3a about 1.7 (a deep curve '
                          'and its check 15 min; measured in two parts), '
                          'fig6 0.65 (on fig4\'s models, not checked), '
                          'variants 1.25',
    },
    # The paper's settings (appendix D.1-D.2, pipeline_settings.PRESETS['paper']) for
    # a GPU machine. D.1 gives 1000 epochs (Adam 1e-4) for the VAE and no
    # epochs for the GANs and AAEs; all use 1000 here, on all 60,000 images.
    'paper': {
        'num_train': 60000, 'epochs': 1000, 'batch_size': 64, 'width': None,
        **{key: _PAPER[key] for key in (
            'num_images', 'num_chains', 'schedule', 'num_intermediate',
            'num_rd_points', 'rd_spacing', 'beta_min', 'beta_max',
            'min_before_first', 'min_between', 'leapfrog_steps',
            'step_size_mode', 'target_accept')},
        'mass_matrix': 'identity', 'jit': 'auto', 'linear_num_train': 60000,
        'fig8_seeds': [1, 2, 3, 4],
        'bdmc_betas': [1.0, 100.0, 1000.0], 'bdmc_num_images': 50,
        'accuracy_check': True,
        'quadrature': {'extent': 32.0, 'spacing': 0.01},
        'fig5a_alphas': [0.5, 0.9, 0.99], 'fig5b_sigmas': [0.5, 1.0, 2.0],
        # The paper's schedule is long already.
        'fig5a_likelihood_factor': 0,
        # D.2: 100-dimensional codes get N = 1,600,000 and beta_max = 3333.3.
        'large_code': {'num_intermediate': 1600000, 'beta_max': 1.0 / 0.0003},
        'expected_hours': '4-7 h per curve on a P100 (D.2), ~7 days for '
                          'code size 100',
    },
}
# Between cpu and paper (issue 22): the cpu budget's AIS on models trained
# on all 60,000 images for twice as many epochs (12x cpu's steps), so that
# a verdict can be followed from cpu to here as the models train longer.
# Sized so that fig4, the figure most claims live in, trains and draws
# its checked curves within one 3-hour working session on 2 cores; fig3a,
# with four deep decoders, takes 3 to more than 7 hours by the cores and
# is resumed from its checkpoints (cores differ up to threefold between
# machines here: a shallow GAN-GP trains in 6.3 min on the one fig4 ran
# on, in 13.4 min on another; a deep one in 25 to 88 min). Only the
# figures whose claims depend on training are meant for it (fig3a, fig4,
# fig5a, fig5b).
BUDGETS['longer'] = {
    **BUDGETS['cpu'], 'num_train': 60000, 'epochs': 10,
    'expected_hours': 'measured on 2 cores with the default checks: '
                      'fig4 1.15 (training 0.5), fig5a 0.7, fig5b 0.6, '
                      'fig9 0.15; estimated from its parts: fig3a 3 on '
                      'the fastest cores seen here, more than 7 on the '
                      'slowest (a deep model trains in 25 to 88 min)'}

_LARGE_CODE = 100


class ReproduceError(ValueError):
  """Input apps.reproduce refuses (one line, exit status 2)."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A zoo model (or the linear VAE: family 'linear')."""
  family: str
  code_size: int
  depth: str = 'shallow'
  seed: int = 0

  @property
  def name(self):
    if self.family == 'linear':
      return f'linear_{self.code_size}'
    return f'{self.family}_{self.depth}_{self.code_size}_seed{self.seed}'

  def settings(self, budget):
    """Everything that defines the trained model."""
    if self.family == 'linear':
      return {'family': 'linear', 'code_size': self.code_size,
              'fit': 'probabilistic PCA (zoo.linear_gaussian), maximum '
                     'likelihood', 'num_train': budget['linear_num_train'],
              'dataset': 'mnist train'}
    import zoo  # pylint: disable=g-import-not-at-top
    return {'family': self.family, 'code_size': self.code_size,
            'architecture': 'mlp', 'depth': self.depth,
            'width': budget['width'] or 1024, 'dataset': 'mnist train',
            'num_train': budget['num_train'], 'epochs': budget['epochs'],
            'batch_size': budget['batch_size'], 'seed': self.seed,
            # A model trained on another recipe differs in its settings and
            # is trained again.
            'recipe': {name: entry.settings() for name, entry
                       in zoo.recipe(self.family).items()}}


@dataclasses.dataclass(frozen=True)
class CurveSpec:
  """One curve of a figure."""
  name: str
  label: str
  model: ModelSpec
  distortion: str = 'mse'
  seed: int = 0
  step_sizes_from: str = None  # another curve of the figure (fig8)
  bdmc: bool = False
  step_size_mode: str = None  # the budget's if None
  prior: str = 'normal'  # adapters.priors.prior_from_spec (fig5a)
  blur_sigma: float = 0.0  # adapters.manipulations.gaussian_blur (fig5b)
  reconstructions: bool = False  # decodings at low/mid/high beta (d4)
  # > 0: a log-likelihood run (fig5a's check of its own estimator): the
  # schedule ends at beta = 1, with this many times the transitions the
  # budget's schedule takes to reach it (`curve_schedule`).
  likelihood_factor: int = 0


def _label(model):
  names = {'vae': 'VAE', 'wgan_gp': 'GAN-GP', 'aae': 'AAE', 'linear': 'linear',
           'gan': 'GAN', 'wgan': 'WGAN', 'sngan': 'SN-GAN', 'fgan': 'f-GAN'}
  return f'{names.get(model.family, model.family)}{model.code_size}'


def _fig7(unused_budget):
  model = ModelSpec('linear', 10)
  return [CurveSpec('mse', 'AIS, squared error', model),
          CurveSpec('gaussian_nll', 'AIS, Gaussian NLL', model,
                    distortion='gaussian_nll')]


def _fig4(unused_budget):
  return [CurveSpec(f'{family}{size}', _label(ModelSpec(family, size)),
                    ModelSpec(family, size))
          for family in ('vae', 'wgan_gp', 'aae') for size in (2, 10, 100)]


def _fig3a(unused_budget):
  return [CurveSpec(f'{depth}_gan{size}',
                    f'{depth} GAN-GP{size}',
                    ModelSpec('wgan_gp', size, depth))
          for depth in ('shallow', 'deep') for size in (2, 5, 10, 100)]


def _fig8(budget):
  model = ModelSpec('vae', 10)  # the paper's Fig. 8 is on its VAE10
  return [CurveSpec('preliminary', 'preliminary (adaptive), rs0', model,
                    step_size_mode='adaptive')] + [
      CurveSpec(f'rs{seed}', f'frozen step sizes, rs{seed}', model,
                seed=seed, step_sizes_from='preliminary')
      for seed in budget['fig8_seeds']]


def _fig9(unused_budget):
  return [CurveSpec(f'{family}10', _label(ModelSpec(family, 10)),
                    ModelSpec(family, 10), bdmc=True)
          for family in ('vae', 'wgan_gp', 'aae')]


def _fig5a(budget):
  model = ModelSpec('vae', 10)
  factor = budget['fig5a_likelihood_factor']
  curves = [CurveSpec('alpha0', 'VAE10, prior N(0, I)', model,
                      distortion='gaussian_nll')] + [
      CurveSpec(f'alpha{alpha:g}', f'VAE10, mixture alpha = {alpha:g}', model,
                distortion='gaussian_nll', prior=f'mixture:{alpha:g}')
      for alpha in budget['fig5a_alphas']]
  if not factor:
    return curves
  return curves + [
      CurveSpec(f'{spec.name}_long', f'{spec.label}, {factor}x schedule to '
                f'beta = 1', model, distortion='gaussian_nll',
                prior=spec.prior, likelihood_factor=factor)
      for spec in (curves[0], curves[-1])]


def _fig5b(budget):
  model = ModelSpec('vae', 10)
  return [CurveSpec(f'sigma{sigma:g}', f'VAE10, blur sigma = {sigma:g}', model,
                    blur_sigma=sigma)
          for sigma in [0.0] + list(budget['fig5b_sigmas'])]


def _fig6(unused_budget):
  return [CurveSpec(f'{family}{size}', _label(ModelSpec(family, size)),
                    ModelSpec(family, size), distortion='features')
          for size in (2, 10) for family in ('vae', 'wgan_gp', 'aae')]


def _lossless(unused_budget):
  return [CurveSpec(f'vae{size}', _label(ModelSpec('vae', size)),
                    ModelSpec('vae', size), distortion='gaussian_nll')
          for size in (2, 10, 100)]


# The zoo's GAN variants on MNIST, in the place of Fig. 3b's CIFAR-10 DCGAN,
# GP-GAN, SN-GAN and BRE-GAN (there is no CIFAR-10 here).
GAN_VARIANTS = ('gan', 'wgan', 'wgan_gp', 'sngan', 'fgan')


def _variants(unused_budget):
  return [CurveSpec(f'{family}{size}', _label(ModelSpec(family, size)),
                    ModelSpec(family, size))
          for size in (2, 10, 100) for family in GAN_VARIANTS]


def _d4(unused_budget):
  # Appendix D.4's Figs. 10 and 11: every family at codes 2, 10 and 100.
  return [CurveSpec(f'{family}{size}', _label(ModelSpec(family, size)),
                    ModelSpec(family, size), reconstructions=True)
          for family in ('vae', 'wgan_gp', 'aae') for size in (2, 10, 100)]


@dataclasses.dataclass(frozen=True)
class Figure:
  name: str
  description: str
  curves: object  # budget -> [CurveSpec]


FIGURES = {figure.name: figure for figure in (
    Figure('fig6', 'VAE, GAN-GP (WGAN-GP) and AAE at code sizes 2 and 10 '
           'under the deep-feature distortion: squared error between the '
           'hidden features of an MNIST CNN classifier (Fig. 6)', _fig6),
    Figure('fig7', 'Analytic vs AIS curves of a linear VAE (probabilistic '
           'PCA fit) on MNIST, squared error and Gaussian NLL (Fig. 7)',
           _fig7),
    Figure('fig4', 'VAE, GAN-GP (WGAN-GP) and AAE with the same shallow MLP '
           'decoder, code sizes 2, 10, 100, squared error (Fig. 4)', _fig4),
    Figure('fig3a', 'Shallow and deep GAN-GP (WGAN-GP) decoders, code sizes '
           '2, 5, 10, 100, squared error (Fig. 3a)', _fig3a),
    Figure('fig8', 'Seed study: a preliminary adaptive run, then runs with '
           'its step sizes frozen and fresh seeds, VAE10 (Fig. 8)', _fig8),
    Figure('fig9', 'BDMC gaps at a few betas on the VAE10, GAN-GP10 and '
           'AAE10 curves (Fig. 9)', _fig9),
    Figure('fig5a', 'VAE10 with its prior damaged to (1 - alpha) N(0, I) + '
           'alpha N(0, 10 I), Gaussian NLL with its learned scale; '
           'log-likelihoods at beta = 1 (Fig. 5a)', _fig5a),
    Figure('fig5b', 'VAE10 with its outputs blurred by a Gaussian of sigma '
           'pixels, squared error (Fig. 5b)', _fig5b),
    Figure('d4', 'Reconstructions of VAE, GAN-GP and AAE at codes 2, 10 '
           'and 100 from latents drawn from the AIS distribution at the '
           'lowest and highest beta (appendix D.4, Figs. 10 and 11), squared '
           'error', _d4),
    Figure('lossless', 'VAEs at code sizes 2, 10, 100, Gaussian NLL with '
           'their learned scales: log-likelihoods at beta = 1, the lossless '
           'rate (§1, §7)', _lossless),
    Figure('variants', 'The zoo\'s GAN variants (GAN, WGAN, WGAN-GP, SN-GAN, '
           'f-GAN) at code sizes 2, 10, 100 with the same shallow MLP '
           'decoder, squared error; on MNIST, where the paper\'s Fig. 3b is '
           'on CIFAR-10', _variants),
)}


# Paths and the manifest.


class Run:
  """One invocation: the output directory, the budget, the manifest."""

  def __init__(self, output_dir, budget_name, overwrite=False, data_dir=None,
               tfds_data_dir=None):
    self.output_dir = output_dir
    self.budget_name = budget_name
    self.budget = BUDGETS[budget_name]
    self.overwrite = overwrite
    self.data_dir = data_dir
    self.tfds_data_dir = tfds_data_dir
    self._images = {}
    self.classifier = None  # (keras model, document), once trained/loaded
    self.manifest = self._read_manifest()

  def path(self, *parts):
    return os.path.join(self.output_dir, *parts)

  def _read_manifest(self):
    path = self.path(MANIFEST)
    if not os.path.exists(path):
      return {'format': MANIFEST_FORMAT, 'budget': self.budget_name,
              'files': []}
    try:
      with open(path) as stream:
        manifest = json.load(stream)
    except (OSError, ValueError) as error:
      raise ReproduceError(f'{path} is not readable ({error}); it is not a '
                           f'manifest apps.reproduce wrote.') from None
    if manifest.get('format') != MANIFEST_FORMAT:
      raise ReproduceError(f'{path} is not a manifest apps.reproduce wrote; '
                           f'choose another --output_dir.')
    if manifest.get('budget') != self.budget_name:
      raise ReproduceError(
          f'{self.output_dir} holds a --budget={manifest.get("budget")} run; '
          f'give that budget or another --output_dir.')
    return manifest

  def owns(self, relative):
    return relative in self.manifest['files']

  def finished(self, relative):
    """Whether apps.reproduce wrote this file and it is there."""
    return self.owns(relative) and os.path.isfile(self.path(relative))

  def record(self, *relatives):
    """Adds files (or directories, ending in /) to the manifest."""
    new = [r for r in relatives if r not in self.manifest['files']]
    if not new:
      return
    from tfrd import files  # pylint: disable=g-import-not-at-top
    os.makedirs(self.output_dir, exist_ok=True)
    # Two apps.reproduce runs may share an output directory (one figure
    # each): merge with what the other recorded since we read the manifest,
    # under a lock, or one run's files would later be refused as foreign.
    with _locked(self.output_dir):
      on_disk = self._read_manifest()['files']
      self.manifest['files'] = list(dict.fromkeys(
          on_disk + self.manifest['files'] + new))
      with files.atomic_write(self.path(MANIFEST)) as stream:
        json.dump(self.manifest, stream, indent=1)

  def check(self, figure_names):
    """Refuses, before any work, what the run may not write.

    Raises:
      ReproduceError: for an output_dir that is a file, or files the run
        would write that apps.reproduce did not write (unless overwrite).
    """
    try:
      output_files.check_creatable(self.output_dir)
    except output_files.OutputError as error:
      raise ReproduceError(str(error)) from None
    planned = []
    for name in figure_names:
      planned += planned_paths(FIGURES[name], self.budget)
    foreign = [p for p in dict.fromkeys(planned)
               if os.path.lexists(self.path(p.rstrip('/')))
               and not self.owns(p)]
    if foreign and not self.overwrite:
      shown = ', '.join(foreign[:3]) + (', ...' if len(foreign) > 3 else '')
      raise ReproduceError(
          f'{self.output_dir} already holds {shown}, not written by '
          f'apps.reproduce; pass --overwrite to replace '
          f'{"it" if len(foreign) == 1 else "them"}, or choose another '
          f'--output_dir.')

  def images(self, split, count):
    """MNIST images [N, 28, 28, 1] in [0, 1] (cached)."""
    key = (split, count)
    if key not in self._images:
      from adapters import datasets  # pylint: disable=g-import-not-at-top
      images = datasets.load_dataset('mnist', count, split=split,
                                     data_dir=self.data_dir,
                                     tfds_data_dir=self.tfds_data_dir)
      self._images[key] = images.reshape((count, 28, 28, 1))
    return self._images[key]


@contextlib.contextmanager
def _locked(directory):
  """An exclusive advisory lock on `directory` (flock on its descriptor:
  no lock file is left in the user's directory)."""
  descriptor = os.open(directory, os.O_RDONLY)
  try:
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    yield
  finally:
    os.close(descriptor)  # releases the lock


_CLASSIFIER_FILES = [os.path.join('models', 'mnist_classifier.keras'),
                     os.path.join('models', 'mnist_classifier.json')]


def _model_files(model):
  stem = os.path.join('models', model.name)
  files = [stem + '.keras', stem + '.json']
  return files + ([] if model.family == 'linear' else [stem + '_training/'])


def _curve_files(figure_name, curve):
  base = os.path.join(figure_name, 'curves', curve.name)
  return [os.path.join(base, name) for name in (
      'curve.json', 'curve.csv', 'curve.npz', 'curve.png', 'step_sizes.npz',
      'reconstructions.npz', 'quadrature.json', 'checkpoint/')]


def planned_paths(figure, budget):
  """Every path (relative; directories end in /) a figure writes."""
  paths = [os.path.join(figure.name, 'results.json'),
           os.path.join(figure.name, 'figure.png')]
  for curve in figure.curves(budget):
    paths += _model_files(curve.model) + _curve_files(figure.name, curve)
    if curve.distortion == 'features':
      paths += _CLASSIFIER_FILES
  return paths


def say(message):
  sys.stderr.write(f'reproduce: {message}\n')
  sys.stderr.flush()


# Shared step 1: train or reuse a model.


def model_or_reuse(run, model):
  """The decoder of `model` (keras) and its recorded settings.

  Reused when the manifest lists its .keras file; otherwise trained (or,
  for the linear VAE, fitted), resuming a training checkpoint if any.
  """
  import keras  # pylint: disable=g-import-not-at-top
  keras_name, json_name = _model_files(model)[:2]
  settings = model.settings(run.budget)
  if run.finished(keras_name) and run.finished(json_name):
    with open(run.path(json_name)) as stream:
      document = json.load(stream)
    if document['settings'] == json.loads(json.dumps(settings)):
      say(f'reusing model {run.path(keras_name)}')
      return keras.saving.load_model(run.path(keras_name),
                                     compile=False), document
  start = time.time()
  if model.family == 'linear':
    decoder, extra = _fit_linear(run, model)
  else:
    decoder, extra = _train_zoo_model(run, model, settings)
  outputs = output_files.OutputFiles('reproduce', run.path('models'),
                                     [os.path.basename(keras_name)],
                                     overwrite=True)
  outputs.save_keras_model(os.path.basename(keras_name), decoder)
  document = {'format': FORMAT, 'settings': settings,
              'wall_time_s': round(time.time() - start, 2), **extra}
  from tfrd import files  # pylint: disable=g-import-not-at-top
  with files.atomic_write(run.path(json_name)) as stream:
    json.dump(document, stream, indent=1)
  run.record(keras_name, json_name)
  say(f'wrote model {run.path(keras_name)} in {document["wall_time_s"]:.0f} s')
  return decoder, document


def classifier_or_reuse(run):
  """fig6's MNIST classifier (zoo.classifier) and its recorded settings and
  test accuracy: reused when the manifest lists it, else trained on the
  budget's training images and epochs (once per invocation)."""
  if run.classifier is not None:
    return run.classifier
  import keras  # pylint: disable=g-import-not-at-top
  from zoo import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
  keras_name, json_name = _CLASSIFIER_FILES
  budget = run.budget
  settings = {'architecture': 'zoo.classifier.build_classifier',
              'features': classifier_lib.FEATURES, 'dataset': 'mnist train',
              'num_train': budget['num_train'], 'epochs': budget['epochs'],
              'batch_size': budget['batch_size'], 'seed': 0}
  if run.finished(keras_name) and run.finished(json_name):
    with open(run.path(json_name)) as stream:
      document = json.load(stream)
    if document['settings'] == settings:
      say(f'reusing classifier {run.path(keras_name)}')
      run.classifier = (keras.saving.load_model(run.path(keras_name),
                                                compile=False), document)
      return run.classifier
  from adapters import datasets  # pylint: disable=g-import-not-at-top
  from tfrd import files  # pylint: disable=g-import-not-at-top
  start = time.time()
  say(f'training the MNIST classifier on {budget["num_train"]} images, '
      f'{budget["epochs"]} epochs')
  labels = lambda split, count: datasets.load_labels(
      'mnist', count, split=split, data_dir=run.data_dir,
      tfds_data_dir=run.tfds_data_dir)
  model = classifier_lib.train_classifier(
      run.images('train', budget['num_train']),
      labels('train', budget['num_train']), epochs=budget['epochs'],
      batch_size=budget['batch_size'], seed=settings['seed'])
  num_test = min(10000, max(budget['num_images'], 1000))
  document = {'format': FORMAT, 'settings': settings,
              'test_accuracy': classifier_lib.accuracy(
                  model, run.images('test', num_test),
                  labels('test', num_test)),
              'num_test': num_test,
              'wall_time_s': round(time.time() - start, 2)}
  outputs = output_files.OutputFiles('reproduce', run.path('models'),
                                     [os.path.basename(keras_name)],
                                     overwrite=True)
  outputs.save_keras_model(os.path.basename(keras_name), model)
  with files.atomic_write(run.path(json_name)) as stream:
    json.dump(document, stream, indent=1)
  run.record(keras_name, json_name)
  say(f'wrote classifier {run.path(keras_name)} (test accuracy '
      f'{document["test_accuracy"]:.3f} on {num_test} images)')
  run.classifier = (model, document)
  return run.classifier


def _fit_linear(run, model):
  """The linear VAE, fitted as apps.linear_vae fits it."""
  from pipelines import linear_comparison  # pylint: disable=g-import-not-at-top
  train = run.images('train', run.budget['linear_num_train'])
  say(f'fitting the linear VAE (latent {model.code_size}) on '
      f'{train.shape[0]} images')
  decoder, noise_scale = linear_comparison.fit_linear_decoder(
      train, model.code_size)
  return decoder, {'noise_scale_ml': noise_scale}


def _train_zoo_model(run, model, settings):
  """The zoo model, trained as apps.train trains it (pipelines.training)."""
  import zoo  # pylint: disable=g-import-not-at-top
  from pipelines import training  # pylint: disable=g-import-not-at-top
  images = run.images('train', settings['num_train'])
  recipe = training.ModelRecipe(model.family, model.code_size,
                                architecture='mlp', depth=model.depth,
                                width=settings['width'])
  built = training.build_model(recipe, images.shape[1:], model.seed)
  checkpoint_dir = _model_files(model)[2]
  run.record(checkpoint_dir)
  trainer = training.make_trainer(
      built, images, training.TrainingSettings(
          epochs=settings['epochs'], batch_size=settings['batch_size'],
          seed=model.seed,
          checkpoint_dir=run.path(checkpoint_dir.rstrip('/'))),
      config=dict(settings, hyperparameters=built.hyperparameters()))
  if trainer.restore():
    say(f'{model.name}: resuming training after {trainer.position[0]} '
        f'epochs')
  say(f'training {model.name} ({zoo.DESCRIPTIONS[model.family]}) on '
      f'{images.shape[0]} images, {settings["epochs"]} epochs')
  trainer.fit(settings['epochs'], stop=jobs.stop_event())
  return built.decoder, training.model_metadata(recipe, built, trainer)


# Shared step 2: compute or reuse a curve.


def schedule_for(budget, code_size, beta_min_factor=1.0):
  """The AIS schedule of the budget (D.2's large-code one for code 100),
  its lowest beta scaled by `beta_min_factor` (see `_beta_min_factor`).

  Returns:
    (`tfrd.AnnealingSchedule`, the settings that made it, for curve.json).
  """
  import tfrd  # pylint: disable=g-import-not-at-top
  settings = dict(budget, **(budget['large_code']
                             if code_size >= _LARGE_CODE else {}))
  settings['beta_min'] = settings['beta_min'] * beta_min_factor
  schedule = tfrd.schedule_from_settings(tfrd.ScheduleSettings(
      kind=settings['schedule'], num_intermediate=settings['num_intermediate'],
      num_rd_points=settings['num_rd_points'], beta_min=settings['beta_min'],
      beta_max=settings['beta_max'], include_beta_one=True,
      rd_spacing=settings['rd_spacing'],
      min_before_first=settings['min_before_first'],
      min_between=settings['min_between']))
  return schedule, {key: settings[key] for key in (
      'schedule', 'num_intermediate', 'num_rd_points', 'rd_spacing',
      'beta_min', 'beta_max', 'min_before_first', 'min_between')}


def curve_schedule(budget, curve, model_document):
  """The schedule of `curve` and its settings: the budget's (`schedule_for`,
  its lowest beta scaled for NLL curves), or for a log-likelihood run
  (`CurveSpec.likelihood_factor`) one that ends at beta = 1 with that many
  times the transitions the budget's takes to reach beta = 1."""
  beta_min_factor = _beta_min_factor(curve, model_document)
  schedule, settings = schedule_for(budget, curve.model.code_size,
                                    beta_min_factor)
  if not curve.likelihood_factor:
    return schedule, settings
  reaching_one = int(np.count_nonzero(np.asarray(schedule.betas)[1:] <= 1.0))
  return schedule_for(
      dict(budget, beta_max=1.0, num_rd_points=2,
           num_intermediate=curve.likelihood_factor * reaching_one),
      curve.model.code_size, beta_min_factor)


def _beta_min_factor(curve, model_document):
  """2σ² for a Gaussian NLL curve, else 1.

  β·NLL = β/(2σ²)·squared error + const: with σ about 0.2 the budget's
  lowest β would start an NLL curve where a squared-error curve has β ≈ 1,
  some 10 nats above the low-rate regime. Scaling it by 2σ² starts every
  curve at the same squared-error-equivalent β.
  """
  if curve.distortion != 'gaussian_nll':
    return 1.0
  return 2.0 * _distortion(None, curve, model_document).scale**2


def _distortion(run, curve, model_document):
  import tfrd  # pylint: disable=g-import-not-at-top
  if curve.distortion == 'mse':
    return tfrd.SquaredError()
  if curve.distortion == 'features':
    from zoo import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
    classifier, unused = classifier_or_reuse(run)
    return tfrd.DeepFeatureDistortion(
        classifier_lib.feature_extractor(classifier), (28, 28, 1))
  # The VAE's learned observation scale; the linear VAE's ML fit.
  return tfrd.GaussianNLL(model_document.get('observation_scale') or
                          model_document['noise_scale_ml'])


def curve_or_reuse(run, figure_name, curve, decoder, model_document):
  """The `tfrd.RDCurve` of `curve`: reused from its curve.json when the
  manifest lists it (and its BDMC gaps are there if asked), else computed,
  resuming its AIS checkpoint."""
  import tfrd  # pylint: disable=g-import-not-at-top
  files = _curve_files(figure_name, curve)
  directory = os.path.dirname(run.path(files[0]))
  if not run.finished(files[0]):
    _copy_same_curve(run, figure_name, curve, files)
  changed = []
  if run.finished(files[0]):
    result = tfrd.RDCurve.load(directory)
    changed = changed_settings(run, curve, result, model_document)
    if changed:
      say(f'curve {directory} was computed with other {", ".join(changed)} '
          f'than this code uses; computing it again')
  if run.finished(files[0]) and not changed:
    say(f'reusing curve {directory}')
  else:
    result = _estimate(run, figure_name, curve, decoder, model_document,
                       directory, files)
  _add_bdmc(run, curve, result, decoder, model_document, directory)
  return result


def changed_settings(run, curve, result, model_document):
  """The names of the settings a finished curve was computed with that
  differ from those this code gives it now (sorted; empty if none).

  A curve.json written before a change of the budget or of the schedule
  rules (the Gaussian-NLL curves' lowest beta, for one) would otherwise be
  reused silently; the settings compared are all that shape its chains and
  its schedule. The XLA choice is not among them: it changes only the time.
  """
  budget = run.budget
  schedule, schedule_settings = curve_schedule(budget, curve, model_document)
  expected = {
      'model': curve.model.settings(budget),
      'distortion': curve.distortion,
      'schedule_settings': schedule_settings,
      'num_transitions': schedule.num_transitions,
      'num_images': budget['num_images'],
      'num_chains': budget['num_chains'],
      'num_leapfrog_steps': budget['leapfrog_steps'],
      'step_size_mode': ('table' if curve.step_sizes_from else
                         curve.step_size_mode or budget['step_size_mode']),
      'step_sizes_from': curve.step_sizes_from,
      'seed': curve.seed, 'prior': curve.prior,
      'blur_sigma': curve.blur_sigma, 'mass_matrix': budget['mass_matrix']}
  recorded = dict(result.config or {})
  # Curves written before the mass matrix was recorded ran plain HMC.
  recorded.setdefault('mass_matrix', 'identity')
  recorded['distortion'] = (recorded.get('distortion') or {}).get('name')
  recorded['num_images'] = int(result.num_images)
  # Through JSON, as curve.json holds them (tuples become lists).
  expected, recorded = json.loads(json.dumps([expected, recorded]))
  return sorted(key for key in expected if recorded.get(key) != expected[key])


def _copy_same_curve(run, figure_name, curve, files):
  """Copies the files of an identical curve another figure finished (fig4's
  GAN-GP2 is fig3a's shallow GAN-GP2, for instance): the same model,
  distortion, prior, seed and settings give the same chains, so computing
  it again would only cost time."""
  from tfrd import files as files_lib  # pylint: disable=g-import-not-at-top
  if curve.step_sizes_from:
    return  # names a curve of its own figure
  for other in FIGURES.values():
    if other.name == figure_name:
      continue
    for spec in other.curves(run.budget):
      same = dataclasses.replace(spec, name=curve.name, label=curve.label,
                                 bdmc=curve.bdmc) == curve
      source = _curve_files(other.name, spec)
      if not (same and run.finished(source[0])):
        continue
      say(f'curve {figure_name}/{curve.name} is {other.name}/{spec.name}: '
          f'copying it')
      os.makedirs(os.path.dirname(run.path(files[0])), exist_ok=True)
      # curve.json last: it marks the copy finished.
      copied = [(s, t) for s, t in zip(source[1:-1], files[1:-1])
                if run.finished(s)] + [(source[0], files[0])]
      for source_name, target_name in copied:
        with open(run.path(source_name), 'rb') as stream:
          data = stream.read()
        with files_lib.atomic_write(run.path(target_name), 'wb') as stream:
          stream.write(data)
        run.record(target_name)
      return


def _prior(curve):
  from adapters import priors  # pylint: disable=g-import-not-at-top
  return priors.prior_from_spec(curve.prior, curve.model.code_size)


def _manipulated(decoder, curve):
  """The decoder with the curve's blur (adapters.manipulations)."""
  if not curve.blur_sigma:
    return decoder
  # pylint: disable=g-import-not-at-top
  from adapters import manipulations
  from adapters import models
  # pylint: enable=g-import-not-at-top
  return manipulations.gaussian_blur(models.load_decoder(decoder),
                                     curve.blur_sigma)


def _chains(budget, curve, step_size_table=None):
  """The budget's `tfrd.ChainSettings` for `curve` (its seed and step-size
  mode)."""
  import tfrd  # pylint: disable=g-import-not-at-top
  hmc = tfrd.HMCSettings(num_leapfrog_steps=budget['leapfrog_steps'],
                         step_size_mode=(curve.step_size_mode or
                                         budget['step_size_mode']),
                         target_accept_prob=budget['target_accept'],
                         mass_matrix=budget['mass_matrix'])
  return tfrd.ChainSettings(num_chains=budget['num_chains'], seed=curve.seed,
                            hmc=hmc, jit_compile=_jit_compile(budget, curve),
                            step_size_table=step_size_table)


def _jit_compile(budget, curve):
  """The budget's XLA choice, except for deep-feature curves on a machine
  without a GPU: XLA:CPU runs the feature CNN's convolutions, and their
  gradients, about 2.3x slower than TensorFlow's own kernels in graph mode
  (`python -m benchmarks.feature_distortion`), while the dense decoders
  gain from XLA everywhere. The chains draw the same random numbers either
  way (`tfrd.ais.TransitionRunner`), so the choice changes only the time.
  """
  if curve.distortion != 'features' or budget['jit'] is False:
    return budget['jit']
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return budget['jit'] if tf.config.list_physical_devices('GPU') else False


def _estimate(run, figure_name, curve, decoder, model_document, directory,
              files):
  """Runs AIS (resumably) and writes the curve's files."""
  # pylint: disable=g-import-not-at-top
  import tfrd
  from pipelines import curve_run
  from tfrd import files as files_lib
  # pylint: enable=g-import-not-at-top
  start = time.time()
  budget = run.budget
  schedule, schedule_settings = curve_schedule(budget, curve, model_document)
  images = run.images('test', budget['num_images'])
  images = images.reshape((images.shape[0],) +
                          tuple(decoder.output_shape[1:]))
  decoder = _manipulated(decoder, curve)
  table = None
  if curve.step_sizes_from:
    table = curve_run.load_step_sizes(os.path.join(
        run.output_dir, figure_name, 'curves', curve.step_sizes_from,
        'step_sizes.npz'))
  checkpoint = files[-1]
  run.record(checkpoint)
  result = curve_run.estimate(
      decoder, images, _distortion(run, curve, model_document), schedule,
      _prior(curve), _chains(budget, curve, table),
      tfrd.RunControl(checkpoint_dir=run.path(checkpoint.rstrip('/')),
                      stop=jobs.stop_event()),
      config={'title': f'{figure_name}: {curve.label}', 'label': curve.label,
              'model': model_document['settings'],
              'schedule_settings': schedule_settings,
              'step_sizes_from': curve.step_sizes_from,
              'prior': curve.prior, 'blur_sigma': curve.blur_sigma},
      program='reproduce')
  result.timing['wall_time_s'] = time.time() - start
  os.makedirs(directory, exist_ok=True)
  with files_lib.atomic_write(run.path(files[4]), 'wb') as stream:
    curve_run.save_step_sizes(result, stream)
  if curve.reconstructions:
    _save_reconstructions(run, files[5], decoder, result)
  run.record(*files[:5])
  result.save(directory)
  tfrd.checkpointing.remove_checkpoint(run.path(checkpoint.rstrip('/')))
  say(f'wrote curve {directory} in {result.timing["wall_time_s"]:.0f} s')
  return result


def _save_reconstructions(run, name, decoder, result):
  """Decodings of the AIS latents kept at the lowest beta, beta = 1 and the
  highest (those of apps.rd_curve --save_reconstructions), into an npz."""
  from pipelines import curve_run  # pylint: disable=g-import-not-at-top
  from tfrd import files  # pylint: disable=g-import-not-at-top
  points = curve_run.reconstruction_points(result)
  decoded = curve_run.decode_latents(decoder, result, points)
  with files.atomic_write(run.path(name), 'wb') as stream:
    np.savez(stream, betas=result.betas[points], rates=result.rate[points],
             decoded=np.stack(decoded))
  run.record(name)


def check_settings(budget, curve):
  """The accuracy check `curve` gets, as `tfrd.AccuracySettings`, or None.

  fig9's curves: BDMC at the budget's points and images (the figure's
  gaps). Every other curve of a budget with 'accuracy_check': the check
  every `apps.rd_curve` curve gets (`tfrd.accuracy.plan_check`'s points and
  images), without a target gap, since a figure's schedule is its
  budget's. Deep-feature curves cannot simulate their data and go
  unchecked.
  """
  from pipelines import bdmc_points  # pylint: disable=g-import-not-at-top
  from tfrd import settings as tfrd_settings  # pylint: disable=g-import-not-at-top
  if curve.bdmc:
    return tfrd_settings.AccuracySettings(
        betas=tuple(budget['bdmc_betas']),
        num_images=budget['bdmc_num_images'], target_gap=None)
  if budget['accuracy_check'] and (
      curve.distortion not in bdmc_points.UNSIMULABLE):
    return tfrd_settings.AccuracySettings(target_gap=None)
  return None


def _add_bdmc(run, curve, result, decoder, model_document, directory):
  """Measures the BDMC points of `check_settings` that `result` lacks, on
  the curve's schedule, as `apps.rd_curve` measures its check; a resumed
  run keeps the points it has."""
  # pylint: disable=g-import-not-at-top
  from pipelines import bdmc_points
  from pipelines import curve_run
  import tfrd
  # pylint: enable=g-import-not-at-top
  budget = run.budget
  accuracy = check_settings(budget, curve)
  if accuracy is None:
    return
  schedule, _ = curve_schedule(budget, curve, model_document)
  if accuracy.betas:
    accuracy = accuracy._replace(betas=tuple(
        beta for beta in accuracy.betas if beta <= schedule.betas[-1]))
  inputs = curve_run.CurveInputs(
      _manipulated(decoder, curve), None, None, None, None, False,
      _distortion(run, curve, model_document))
  chains = _chains(budget, curve)._replace(jit_compile=budget['jit'])
  plan = tfrd.accuracy.plan_check(inputs.distortion, schedule,
                                  result.num_images, chains, accuracy)
  # Points measured before (an interrupted check, or fig9's curves copied
  # from fig4's) are kept; only the plan's missing ones are run.
  result.bdmc = [record for record in result.bdmc or []
                 if record['beta'] in plan.betas and
                 record['num_images'] == plan.num_images]
  missing = np.setdiff1d(plan.betas,
                         [record['beta'] for record in result.bdmc])
  if not missing.size:
    return
  say(f'BDMC of {directory} at beta = {", ".join(f"{b:g}" for b in missing)}'
      f' ({plan.num_images} simulated images each)')
  bdmc_points.measure_for_curve(
      result, inputs, _prior(curve), schedule, plan._replace(betas=missing),
      accuracy, chains, directory, 'reproduce')


# The figure: results.json and figure.png.


def _curve_record(curve, result):
  config = result.config or {}
  return {
      'name': curve.name, 'label': curve.label,
      'model': config.get('model'),
      'distortion': config.get('distortion'),
      'seed': curve.seed, 'step_sizes_from': curve.step_sizes_from,
      'prior': curve.prior, 'blur_sigma': curve.blur_sigma,
      'num_images': int(result.num_images),
      'num_chains': config.get('num_chains'),
      'num_transitions': config.get('num_transitions'),
      'schedule': config.get('schedule_settings'),
      'hmc': {key: config.get(key) for key in (
          'num_leapfrog_steps', 'step_size_mode', 'mean_step_size',
          'decoder_gradients_per_chain', 'jit_compiled')},
      'wall_time_s': (result.timing or {}).get('wall_time_s'),
      'log_likelihood': result.log_likelihood,
      'points': result.points(),
      # Per image, so that curves of the same test images can be compared
      # image by image (apps.findings' paired standard errors).
      'per_image': {
          'image_indices': np.asarray(result.image_indices).tolist(),
          'rate': result.rate_per_image.tolist(),
          'distortion': result.distortion_per_image.tolist(),
          'log_z': result.log_z_per_image.tolist()},
      'bdmc': result.bdmc,
      'accuracy': result.accuracy,
  }


def run_figure(run, figure):
  """Trains or reuses the models, computes or reuses the curves, writes
  results.json and figure.png; returns the results document."""
  start = time.time()
  results_name = os.path.join(figure.name, 'results.json')
  if run.finished(results_name):
    stale = _stale_curves(run, figure)
    if not stale:
      say(f'{figure.name} is finished: {run.path(results_name)}')
      with open(run.path(results_name)) as stream:
        return json.load(stream)
    say(f'{figure.name}: curve(s) {", ".join(stale)} missing or made with '
        f'other settings than this code gives; making the figure again')
  say(f'{figure.name}: {figure.description}; budget {run.budget_name}')
  specs = figure.curves(run.budget)
  models, curves = {}, {}
  for number, spec in enumerate(specs, 1):
    # Where a run of hours stands: the model and AIS lines count within
    # one curve only.
    say(f'{figure.name}: curve {number} of {len(specs)}, {spec.label}')
    if spec.model not in models:
      models[spec.model] = model_or_reuse(run, spec.model)
    decoder, document = models[spec.model]
    curves[spec.name] = curve_or_reuse(run, figure.name, spec, decoder,
                                       document)
  extra = (_linear_comparison(run, specs, curves, models)
           if figure.name == 'fig7' else {})
  quadrature = {spec.name: _quadrature_or_reuse(run, figure.name, spec,
                                                curves[spec.name],
                                                *models[spec.model])
                for spec in specs if _has_grid_reference(spec)}
  if quadrature:
    extra['quadrature'] = quadrature
  if any(spec.distortion == 'features' for spec in specs):
    # The classifier's record even when every curve was reused.
    extra['classifier'] = classifier_or_reuse(run)[1]
  document = {
      'format': FORMAT, 'figure': figure.name,
      'description': figure.description, 'budget': run.budget_name,
      'budget_settings': run.budget,
      'models': {m.name: d for m, (unused, d) in models.items()},
      'curves': [_curve_record(s, curves[s.name]) for s in specs],
      **extra,
      'wall_time_s': round(time.time() - start, 2),
      'work_time_s': _work_time(models, specs, curves) + (
          extra['classifier']['wall_time_s'] if 'classifier' in extra
          else 0.0) + sum(record['wall_time_s'] for record in extra.get(
              'quadrature', {}).values()),
  }
  _draw(run, figure, specs, document)
  from tfrd import files  # pylint: disable=g-import-not-at-top
  with files.atomic_write(run.path(results_name)) as stream:
    json.dump(document, stream, indent=1, default=float)
  run.record(results_name)
  say(f'{figure.name}: wrote {run.path(results_name)} and figure.png in '
      f'{document["wall_time_s"]:.0f} s')
  return document


def _stale_curves(run, figure):
  """The names of the curves of a finished figure that this code would
  not reuse: missing, or computed with other settings (`changed_settings`).
  """
  import tfrd  # pylint: disable=g-import-not-at-top
  stale = []
  for spec in figure.curves(run.budget):
    model_json = _model_files(spec.model)[1]
    curve_json = _curve_files(figure.name, spec)[0]
    if not (run.finished(model_json) and run.finished(curve_json)):
      stale.append(spec.name)
      continue
    with open(run.path(model_json)) as stream:
      model_document = json.load(stream)
    result = tfrd.RDCurve.load(os.path.dirname(run.path(curve_json)))
    if changed_settings(run, spec, result, model_document):
      stale.append(spec.name)
  return stale


def _work_time(models, specs, curves):
  """What the figure cost, from the times its parts recorded when they were
  made (training, AIS, BDMC), whichever invocation made them: wall_time_s
  is only this invocation's, a few seconds when everything is reused."""
  total = sum(document.get('wall_time_s') or 0.0
              for unused, document in models.values())
  for spec in specs:
    result = curves[spec.name]
    total += (result.timing or {}).get('wall_time_s') or 0.0
    total += sum(point.get('wall_time_s') or 0.0
                 for point in result.bdmc or [])
  return round(total, 2)


def _has_grid_reference(spec):
  """Whether the curve's exact value can be summed on a grid: a zoo model
  with a code of at most tfrd.quadrature.MAX_LATENT_DIM dimensions, the
  normal prior, and the decoder as trained."""
  from tfrd import quadrature  # pylint: disable=g-import-not-at-top
  return (spec.model.family != 'linear' and
          spec.model.code_size <= quadrature.MAX_LATENT_DIM and
          spec.prior == 'normal' and not spec.blur_sigma and
          spec.distortion in ('mse', 'gaussian_nll'))


def _quadrature_or_reuse(run, figure_name, spec, result, decoder,
                         model_document):
  """The AIS curve against its exact value summed on the budget's grid
  (tfrd.grid_rd_curve), with tfrd.compare_with_exact's tolerances; the grid
  curve is kept in the curve's quadrature.json and reused."""
  import tfrd  # pylint: disable=g-import-not-at-top
  from tfrd import files  # pylint: disable=g-import-not-at-top
  name = _curve_files(figure_name, spec)[6]
  settings = dict(run.budget['quadrature'])
  document = None
  if run.finished(name):
    with open(run.path(name)) as stream:
      document = json.load(stream)
    if document['settings'] != settings or document['beta'] != list(
        result.betas):
      document = None
  if document is None:
    start = time.time()
    say(f'summing {figure_name}/{spec.name} on a grid '
        f'(extent {settings["extent"]:g}, spacing {settings["spacing"]:g})')
    images = run.images('test', run.budget['num_images'])
    grid = tfrd.grid_rd_curve(decoder, images,
                              _distortion(run, spec, model_document),
                              result.betas, spec.model.code_size,
                              **settings)
    document = {
        'format': FORMAT, 'settings': settings, 'beta': list(result.betas),
        'num_points': grid.num_points,
        'rate': grid.curve.rate_per_image.tolist(),
        'distortion': grid.curve.distortion_per_image.tolist(),
        'log_z': grid.curve.log_z_per_image.tolist(),
        'distortion_variance': grid.distortion_variance.tolist(),
        'discretization_error': grid.discretization_error.tolist(),
        'edge_log_weight': grid.edge_log_weight.tolist(),
        'wall_time_s': round(time.time() - start, 2)}
    with files.atomic_write(run.path(name)) as stream:
      json.dump(document, stream)
    run.record(name)
  exact = tfrd.LinearRDCurve(*(np.asarray(document[key]) for key in (
      'beta', 'rate', 'distortion', 'log_z')))
  from tfrd import quadrature  # pylint: disable=g-import-not-at-top
  converged = quadrature.converged(document['discretization_error'],
                                   document['edge_log_weight'])
  return {
      'settings': settings, 'num_points': document['num_points'],
      'wall_time_s': document['wall_time_s'],
      # Where the grid is not exact (sharp posteriors at high beta) it says
      # nothing about AIS: only its converged betas are compared.
      'converged_betas': result.betas[converged].tolist(),
      **_exact_record(result, exact,
                      np.asarray(document['distortion_variance']),
                      converged),
      'max_discretization_error_nats': float(np.max(
          document['discretization_error'])),
      'max_edge_log_weight': float(np.max(document['edge_log_weight']))}


def _exact_record(curve, exact, variance, compared=None):
  """An AIS curve against its exact values (`tfrd.compare_with_exact`, the
  tolerances of apps.linear_vae) at the betas `compared` ([P] bool, all
  if None), for results.json."""
  import tfrd  # pylint: disable=g-import-not-at-top
  check = tfrd.compare_with_exact(curve, exact, variance)
  if compared is not None:
    check = tfrd.ExactComparison(*(np.asarray(field)[compared]
                                   for field in check))
  if not check.rate_error.size:
    return {'within_tolerance': None, 'max_rate_error_nats': None,
            'max_distortion_relative_error': None}
  return {
      'rate_exact': check.rate_exact.tolist(),
      'distortion_exact': check.distortion_exact.tolist(),
      'max_rate_error_nats': float(np.max(np.abs(check.rate_error))),
      'max_distortion_relative_error': float(np.max(
          np.abs(check.distortion_error) / np.abs(check.distortion_exact))),
      'within_tolerance': bool(check.within_tolerance),
      'tolerance': 'tfrd.compare_with_exact defaults (those of '
                   'apps.linear_vae)'}


def _linear_comparison(run, specs, curves, models):
  """fig7: the exact curve of the fitted decoder at every AIS beta
  (pipelines.linear_comparison, as apps.linear_vae computes it)."""
  from pipelines import linear_comparison  # pylint: disable=g-import-not-at-top
  comparison = {}
  for spec in specs:
    decoder, document = models[spec.model]
    images = run.images('test', run.budget['num_images']).reshape(
        (run.budget['num_images'], -1))
    curve = curves[spec.name]
    exact, variance = linear_comparison.closed_form(
        decoder, images, curve.betas, _distortion(run, spec, document))
    comparison[spec.name] = {'beta': curve.betas.tolist(),
                             **_exact_record(curve, exact, variance)}
  return {'exact': comparison}


def _draw(run, figure, specs, document):
  """figure.png: `pipelines.report_figures`' figure of the results document
  (the one written as results.json, so that `apps.reproduce --redraw`
  draws the same figure from it); d4's reconstruction grids, whose images
  are not in results.json, from its curves' reconstructions.npz."""
  name = os.path.join(figure.name, 'figure.png')
  if figure.name == 'd4':
    from tfrd import plotting  # pylint: disable=g-import-not-at-top
    columns = {}
    for spec in specs:
      with np.load(run.path(_curve_files(figure.name, spec)[5])) as arrays:
        # The paper's two: its lowest beta (D.4's beta = 0: low rate) and
        # its highest (beta_max: high rate).
        for index in (0, -1):
          columns[f'{spec.label}\nbeta={arrays["betas"][index]:.3g}\n'
                  f'R={arrays["rates"][index]:.1f}'] = arrays['decoded'][index]
    plotting.plot_reconstructions(run.images('test', run.budget['num_images']),
                                  columns, run.path(name))
  else:
    from pipelines import report_figures  # pylint: disable=g-import-not-at-top
    report_figures.draw_figure(document, run.path(name))
  run.record(name)
