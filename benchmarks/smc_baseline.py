r"""An outside baseline: TFP's adaptive SMC against tfrd's AIS at equal cost.

    TFRD_DATA_DIR=../shared/data python -m benchmarks.smc_baseline \
        --output_dir=runs/smc_baseline          # mlp64, 4 images, β = 1000
    python -m benchmarks.smc_baseline --quick --output_dir=runs/smoke

Issue 33 asks whether `tfp.experimental.mcmc.sample_sequential_monte_carlo`
(tempering adapted so that each stage keeps half the effective sample size,
systematic resampling at every stage, an HMC mutation whose step size and
number of steps adapt to the particles) estimates log Z_β(x) better than
tfrd's AIS for the same decoder gradients. For each decoder it:

1. simulates K images at β (squared error; `tfrd.bdmc.simulate_data` with
   the seed `tfrd.bdmc.bdmc_on_images` derives from the chains' seed and
   β, so they are the images of those indices tfrd's own check sees
   there: 0 to K-1 for the search, from --first_image on fresh ones);
2. runs tfrd's BDMC at β on them (`tfrd.bdmc.bdmc_on_images`, every
   default of `benchmarks.deep_accuracy`'s check: 16 chains, L = 2,
   two-pass step sizes, the Hessian mass matrix, the curve's schedule of
   --num_intermediate base distributions): the forward AIS lower bound,
   the reverse AIS upper bound, and the forward run's decoder gradients
   (both passes and the Hessian rows) per image, the budget;
3. runs TFP's SMC on each image, one image per call, with the standard
   normal prior as `prior_log_prob_fn`, -β·d(x, f(z)) as
   `likelihood_log_prob_fn` (SMC tempers that from 0 to 1, so its last
   target is p(z)·exp(-β d), whose normalizer is Z_β(x)), TFP's HMC
   mutation kernel (`gen_make_hmc_kernel_fn`) for each `--smc_kernels`
   spec: 'L' is TFP's kernel of L leapfrog steps with TFP's own adaptive
   number of steps a stage (2 to 25, from the last stage's acceptance;
   L = 10 is TFP's default), 'LxS' the same kernel run S steps every
   stage. Its step sizes follow the particles' spread (TFP's); its tuning
   aims at 0.651 acceptance (the value TFP's own HMC test gives
   `simple_heuristic_tuning`; its 0.234 default is random-walk
   Metropolis's). It gets as many particles as spend the forward AIS
   budget: calibrated on the first image (a pilot run of 32 particles,
   then rescaled; these runs are not counted), then kept for every image.
   Its decoder gradients are counted, not inferred: the likelihood is
   wrapped in a `tf.custom_gradient` that adds the rows of every forward
   and every backward pass to two counters (`CountedLikelihood`).

The images run one per call rather than as TFP batch dimensions: a batch
shares one number of mutation steps (the largest any member asks for) and
keeps mutating members that already reached β, whose marginal-likelihood
increments TFP then gets wrong (below).

TFP's log normalizer, and its correction. `sample_sequential_monte_carlo`
returns (stages, final particles, `SMCResults`), whose
`log_marginal_likelihood` sums each stage's logmeanexp((β' - β)·ℓ). Its
next inverse temperature β' is found by bisection on [β, 2] and clipped
to 1, but the increment uses β' unclipped: the last stage, whose β' is
at least 1, is weighted as if the target were p(z)·exp(β'·ℓ), β' up to
2, and with ℓ = -β·d < 0 the reported value is low by about
(β' - 1)·|ℓ| (nats to tens of nats here). TFP's tests check the
particles, never this value. `SMCRunner` therefore records every
stage's β and the particles' ℓ (the rows the likelihood is called on
outside the mutation kernel, one call a stage) and sums the increments
again with the last β clipped to 1: the estimator TFP means, unbiased
for Z up to the adaptive tempering's O(1/particles) bias, so a
stochastic lower bound on log Z like forward AIS. Both are reported;
the comparison uses the corrected one, the better for SMC.
`tests/test_smc_baseline.py` checks it against the exact log Z of linear
decoders and reproduces TFP's own value from the records.

Its rate and distortion: the final particles are equally weighted draws
at β = 1, so D̂ is their mean distortion and R̂ = -log Ẑ - β D̂, as
tfrd's eq. 15.

The lower bound closer to the reverse AIS upper bound (a smaller gap at
equal decoder gradients) wins. Writes smc_baseline.json and
smc_baseline.md into --output_dir. The measurement on the deep 64-d
MLP and its verdict (tfrd's AIS stays): docs/accuracy.md, "An outside
baseline: TFP's adaptive SMC"; its files: docs/results/smc_baseline/.

Decoders: those of `benchmarks.deep_accuracy` (trained or loaded as it
does, from --models_dir, by default docs/results/deep_accuracy), and
`linear10`, a synthetic linear decoder (latent 10, 784 outputs: the
studies' `benchmarks.study_flags`), whose log Z_β has a closed form
(`tfrd.linear_rate_distortion`), reported beside the bounds.
"""

import collections
import dataclasses
import functools
import json
import math
import os
import sys
import time

from absl import flags
import numpy as np

from benchmarks import deep_decoders
from benchmarks import study_flags
from pipelines import jobs

FLAGS = flags.FLAGS

LINEAR = 'linear10'
DECODERS = deep_decoders.DECODERS + (LINEAR,)
# The value TFP's own HMC test of `sample_sequential_monte_carlo` gives its
# tuning; `simple_heuristic_tuning`'s default, 0.234, is random-walk
# Metropolis's optimum.
HMC_TARGET_ACCEPT = 0.651
# Calibration: the pilot's particles, the fewest particles a run may have,
# and how far the first image's gradients may be from the budget before it
# is run again with the particles rescaled.
PILOT_PARTICLES = 32
MIN_PARTICLES = 8
BUDGET_TOLERANCE = 0.1
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS_DIR = os.path.join(_REPO, 'docs', 'results', 'deep_accuracy')


@dataclasses.dataclass(frozen=True)
class Settings:
  """One run of the benchmark.

  Attributes:
    output_dir: where smc_baseline.json and .md go (and linear10.keras).
    decoders: names of `DECODERS`.
    models_dir: where `benchmarks.deep_accuracy` keeps (or would train) its
      decoders.
    data_dir: MNIST's raw files, to train a missing decoder (None:
      $TFRD_DATA_DIR).
    beta: the inverse temperature of the comparison.
    num_images: simulated images K.
    num_intermediate: tfrd's base schedule (its fills scale with it, as in
      `benchmarks.deep_accuracy`).
    first_image: the first simulated image's index (images after those of
      an earlier run are fresh ones of the same model and seeds).
    smc_kernels: the SMC mutations run, each a `parse_kernel` spec: 'L'
      (TFP's HMC of L leapfrog steps, its adaptive 2 to 25 steps a stage)
      or 'LxS' (S steps every stage).
    max_stage: SMC's cap on tempering stages (TFP's default of 100 is
      below what β = 1000 takes on a 64-d code).
    mass_matrix: tfrd's `HMCSettings.mass_matrix`.
    seed: the chains' seed (tfrd's check uses 0); SMC derives its own.
    quick: a smoke-sized run: a tiny schedule, 4 chains, 2 images, no XLA.
  """
  output_dir: str
  decoders: tuple = ('mlp64',)
  models_dir: str = DEFAULT_MODELS_DIR
  data_dir: str = None
  beta: float = 1000.0
  num_images: int = 4
  num_intermediate: int = 5000
  first_image: int = 0
  smc_kernels: tuple = ('10', '2', '10x50')
  max_stage: int = 2000
  mass_matrix: str = 'hessian'
  seed: int = 0
  quick: bool = False


def define_flags():
  """Defines the benchmark's flags: in its own process only (`__main__`),
  so that importing it, as its tests do beside the apps, defines none."""
  flags.DEFINE_string('output_dir', 'smc_baseline_output',
                      'Directory for smc_baseline.json and .md.')
  flags.DEFINE_bool('quick', False,
                    'A smoke-sized run (a minute): a tiny schedule, 2 images, '
                    '4 chains, SMC with L = 2 only; says nothing about '
                    'accuracy.')
  flags.DEFINE_list('decoders', ['mlp64'],
                    f'Decoders, of {", ".join(DECODERS)}.')
  flags.DEFINE_string('data_dir', None,
                      'Directory with mnist/ raw files (default: '
                      '$TFRD_DATA_DIR), to train a missing decoder.')
  flags.DEFINE_integer('num_intermediate', 5000,
                       "tfrd's base schedule; its fills scale with it "
                       '(min_before_first N/5, min_between N/2000, at least '
                       '2).')
  flags.DEFINE_enum('mass_matrix', 'hessian', ['identity', 'hessian'],
                    "tfrd's HMC mass matrix ('hessian' is its default).")
  flags.DEFINE_string('models_dir', DEFAULT_MODELS_DIR,
                      "Where benchmarks.deep_accuracy's decoders are (a "
                      'missing one is trained there).')
  flags.DEFINE_float('beta', 1000.0, 'Inverse temperature of the comparison.')
  flags.DEFINE_integer('num_images', 4, 'Simulated images.')
  flags.DEFINE_integer('first_image', 0,
                       'Index of the first simulated image (later indices: '
                       "fresh images, as tfrd's verdict takes).")
  flags.DEFINE_list('smc_kernels', ['10', '2', '10x50'],
                    "SMC's HMC mutations, one SMC run each: 'L' is TFP's HMC "
                    'kernel with L leapfrog steps and its adaptive number of '
                    "steps a stage (2 to 25; TFP's default L is 10, tfrd's "
                    "2); 'LxS' runs S steps every stage.")
  flags.DEFINE_integer('max_stage', 2000, "SMC's cap on tempering stages.")


class SMCKernel(
    collections.namedtuple('SMCKernel', ['spec', 'num_leapfrog_steps',
                                         'min_num_steps', 'max_num_steps'])):
  """An SMC mutation: TFP's HMC kernel of L leapfrog steps, run between
  `min_num_steps` and `max_num_steps` steps a stage (TFP's tuning picks
  the number from the last stage's acceptance)."""
  __slots__ = ()

  @property
  def label(self):
    if self.min_num_steps == self.max_num_steps:
      return f'SMC L={self.num_leapfrog_steps}, {self.min_num_steps} steps'
    return f'SMC L={self.num_leapfrog_steps}'

  @property
  def description(self):
    if self.min_num_steps == self.max_num_steps:
      return (f'TFP SMC (HMC L={self.num_leapfrog_steps}, '
              f'{self.min_num_steps} steps a stage')
    return (f'TFP SMC (HMC L={self.num_leapfrog_steps}, TFP\'s adaptive '
            f'{self.min_num_steps}-{self.max_num_steps} steps a stage')


def parse_kernel(spec):
  """'L' (TFP's adaptive 2 to 25 steps a stage) or 'LxS' (S steps a stage)
  as an `SMCKernel`; ValueError otherwise."""
  parts = str(spec).strip().split('x')
  try:
    values = [int(part) for part in parts]
  except ValueError:
    values = []
  if len(values) not in (1, 2) or min(values) < 1:
    raise ValueError(f"--smc_kernels: 'L' or 'LxS' with positive integers, "
                     f'got {spec!r}.')
  if len(values) == 1:
    return SMCKernel(str(spec).strip(), values[0], 2, 25)
  return SMCKernel(str(spec).strip(), values[0], values[1], values[1])


def quick_settings(settings):
  """`settings` made smoke-sized: what --quick means."""
  return dataclasses.replace(settings, quick=True, num_images=2,
                             num_intermediate=100, smc_kernels=('2',))


def settings_from_flags():
  unknown = sorted(set(FLAGS.decoders) - set(DECODERS))
  if unknown:
    raise ValueError(f'--decoders: unknown {", ".join(unknown)}; choose of '
                     f'{", ".join(DECODERS)}.')
  if not FLAGS.smc_kernels:
    raise ValueError('--smc_kernels: give at least one.')
  for spec in FLAGS.smc_kernels:
    parse_kernel(spec)
  if FLAGS.first_image < 0:
    raise ValueError('--first_image must be at least 0.')
  if FLAGS.num_images < 1 or FLAGS.num_intermediate < 2 or not (
      math.isfinite(FLAGS.beta) and FLAGS.beta > 0):
    raise ValueError('--num_images, --num_intermediate and --beta must be '
                     'positive.')
  settings = Settings(
      output_dir=FLAGS.output_dir, decoders=tuple(FLAGS.decoders),
      models_dir=FLAGS.models_dir, data_dir=FLAGS.data_dir, beta=FLAGS.beta,
      num_images=FLAGS.num_images, num_intermediate=FLAGS.num_intermediate,
      first_image=FLAGS.first_image,
      smc_kernels=tuple(FLAGS.smc_kernels), max_stage=FLAGS.max_stage,
      mass_matrix=FLAGS.mass_matrix)
  return quick_settings(settings) if FLAGS.quick else settings


# --- TFP's SMC, counted -----------------------------------------------------


class CountedLikelihood:
  """A log-likelihood that counts the decoder rows it evaluates.

  Wraps `log_likelihood` (latents [P, D] float64 -> [P] float64, one
  decoder call) in a `tf.custom_gradient` whose forward pass adds its rows
  to `forward_rows` and whose backward pass adds them to `gradient_rows`:
  a decoder gradient is a backward pass, and forward-only rows are
  `forward_rows - gradient_rows`. The counters are variables, so the count
  holds in graph mode and under XLA, where Python side effects run once
  at tracing.

  `record_direct` is the same function that also keeps what SMC's
  tempering weighs: SMC calls it outside the mutation kernel, once at the
  start and once after each stage, and its values go to `records[count]`;
  `record_beta` keeps the inverse temperature each stage's kernel targets
  in `betas[count]` (count being then the stage's index).
  """

  def __init__(self, log_likelihood, num_particles, max_records):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._log_likelihood = log_likelihood
    self.forward_rows = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.gradient_rows = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.count = tf.Variable(0, dtype=tf.int32, trainable=False)
    self.records = tf.Variable(tf.zeros([max_records, num_particles],
                                        tf.float64), trainable=False)
    self.betas = tf.Variable(tf.zeros([max_records], tf.float64),
                             trainable=False)

  def reset(self):
    for variable in (self.forward_rows, self.gradient_rows, self.count):
      variable.assign(0)

  def __call__(self, latents):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    @tf.custom_gradient
    def counted(z):
      rows = tf.cast(tf.shape(z)[0], tf.int64)
      self.forward_rows.assign_add(rows)
      with tf.GradientTape() as tape:
        tape.watch(z)
        value = self._log_likelihood(z)

      def gradient(upstream, variables=None):
        self.gradient_rows.assign_add(rows)
        grad = tape.gradient(value, z, output_gradients=upstream)
        return grad, [None] * len(variables or ())

      return value, gradient

    return counted(latents)

  def record_direct(self, latents):
    """`self(latents)`, its values kept as the next stage's record."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    value = self(latents)
    self.records.scatter_nd_update(tf.reshape(self.count, [1, 1]),
                                   value[tf.newaxis])
    self.count.assign_add(1)
    return value

  def record_beta(self, inverse_temperature):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self.betas.scatter_nd_update(
        tf.reshape(self.count, [1, 1]),
        tf.reshape(tf.cast(inverse_temperature, tf.float64), [1]))


class SMCRun(
    collections.namedtuple(
        'SMCRun',
        ['log_z', 'tfp_log_z', 'distortion', 'rate', 'num_stages',
         'final_inverse_temperature', 'stage_betas', 'num_particles',
         'num_leapfrog_steps', 'decoder_gradients', 'forward_only_rows',
         'accept_rate', 'wall_time_s', 'jit_compiled'])):
  """One image's SMC estimate.

  Attributes:
    log_z: log Ẑ with the last stage's increment at β = 1 (the module
      docstring): the estimate compared.
    tfp_log_z: `SMCResults.log_marginal_likelihood` as TFP returns it.
    distortion: D̂, the final particles' mean distortion (None without a
      β, as for the toy likelihoods of the tests).
    rate: R̂ = -log Ẑ - β D̂ (None likewise).
    num_stages: tempering stages.
    final_inverse_temperature: 1 unless `max_stage` stopped it first.
    stage_betas: [num_stages + 1] the tempering's inverse temperatures.
    num_particles: P.
    num_leapfrog_steps: L of the HMC mutation.
    decoder_gradients: decoder rows differentiated (backward passes).
    forward_only_rows: decoder rows evaluated without a gradient (the
      likelihood of each stage's particles).
    accept_rate: the last mutation's mean acceptance probability.
    wall_time_s: the call's wall time (the first call of a runner
      includes tracing and compiling).
    jit_compiled: whether it ran under XLA.
  """
  __slots__ = ()

  def as_record(self):
    record = self._asdict()
    record['stage_betas'] = [float(b) for b in self.stage_betas]
    return record


def log_mean_exp(values, axis=-1):
  values = np.asarray(values, np.float64)
  peak = np.max(values, axis=axis, keepdims=True)
  return np.squeeze(peak, axis) + np.log(
      np.mean(np.exp(values - peak), axis=axis))


def corrected_log_z(stage_betas, stage_likelihoods):
  """Σ_k logmeanexp((β_k - β_{k-1}) ℓ_{k-1}) over the stages, β clipped to
  1: SMC's estimate of log Z (resampling at every stage leaves equal
  weights).

  Args:
    stage_betas: [S + 1] inverse temperatures, from 0.
    stage_likelihoods: [S + 1, P] the particles' log-likelihoods at the
      start of each stage (the last row, after the final mutation, unused).
  """
  betas = np.minimum(np.asarray(stage_betas, np.float64), 1.0)
  return float(sum(
      log_mean_exp((betas[k] - betas[k - 1]) * stage_likelihoods[k - 1])
      for k in range(1, betas.size)))


def tfp_final_beta(previous_beta, likelihood, ess_threshold_ratio=0.5):
  """The unclipped β' TFP's bisection picks for a stage (numpy, the same
  steps as `update_weights_temperature`), to reproduce its reported value."""
  likelihood = np.asarray(likelihood, np.float64)
  threshold = int(likelihood.size * ess_threshold_ratio)
  diff = likelihood - likelihood.max()
  new, upper, lower, ess = 0.0, 2.0, float(previous_beta), 0
  while upper - lower > 1e-6 and ess != threshold:
    new = (lower + upper) / 2.0
    log_weights = (new - previous_beta) * diff
    log_weights = log_weights - (log_weights.max() + np.log(
        np.sum(np.exp(log_weights - log_weights.max()))))
    ess = int(np.exp(-(np.log(np.sum(np.exp(2 * log_weights))))))
    if ess < threshold:
      upper = new
    else:
      lower = new
  return new


class SMCRunner:
  """TFP's `sample_sequential_monte_carlo` on one likelihood, counted.

  Args:
    make_log_likelihood: callable data -> log-likelihood (latents [P, D]
      float64 -> [P] float64); the data, a tensor, is the traced
      function's argument, so one trace serves every image.
    prior: TFP distribution with event shape [D] (float64).
    num_particles: P.
    num_leapfrog_steps: L of TFP's HMC kernel (`gen_make_hmc_kernel_fn`).
    max_stage: SMC's cap on stages.
    target_accept: `simple_heuristic_tuning`'s optimal_accept.
    jit_compile: True, False, or 'auto' (XLA, else graph mode). Not
      eagerly: TFP's HMC then evaluates the target once more without a
      gradient at every step (`mcmc.internal.util._value_and_gradients`),
      which graph mode does not.
    beta: β, when the likelihood is -β·d, for D̂ and R̂ (or None).
    min_num_steps, max_num_steps: the bounds of the HMC steps per stage
      (TFP's defaults: 2 and 25; equal, a fixed number).
  """

  def __init__(self, make_log_likelihood, prior, num_particles,
               num_leapfrog_steps=10, max_stage=2000,
               target_accept=HMC_TARGET_ACCEPT, jit_compile='auto',
               beta=None, min_num_steps=2, max_num_steps=25):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self.make_log_likelihood = make_log_likelihood
    self.prior = prior
    self.num_particles = int(num_particles)
    self.num_leapfrog_steps = int(num_leapfrog_steps)
    self.max_stage = int(max_stage)
    self.target_accept = float(target_accept)
    self.min_num_steps = int(min_num_steps)
    self.max_num_steps = int(max_num_steps)
    self.beta = beta
    self._counted = None
    self._jit = jit_compile
    self.jit_compiled = jit_compile is True
    # No autograph: TFP's loops are tf.while_loops already, and autograph
    # would read this file's source again at tracing, which a file edited
    # during a long run no longer matches.
    function = functools.partial(tf.function, self._run, autograph=False)
    if jit_compile == 'auto':
      self._function = function(jit_compile=True)
      self._fallback = function(jit_compile=False)
      self.jit_compiled = True
    else:
      self._function = function(jit_compile=bool(jit_compile))

  def _run(self, data, seed):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top
    smc = tfp.experimental.mcmc
    counted = self._counted_for(data)
    init_seed, smc_seed = tfp.random.split_seed(seed)
    particles = tf.cast(self.prior.sample(self.num_particles, seed=init_seed),
                        tf.float64)

    def tempered(prior_log_prob_fn, likelihood_log_prob_fn,
                 inverse_temperature):
      # Called once per stage, as the stage's kernel is made: its β. The
      # kernel evaluates the counted likelihood, not the recording one.
      del likelihood_log_prob_fn
      counted.record_beta(inverse_temperature)
      return lambda z: (prior_log_prob_fn(z) +
                        counted(z) * inverse_temperature)

    num_stages, final_state, results = smc.sample_sequential_monte_carlo(
        self.prior.log_prob, counted.record_direct, particles,
        max_stage=self.max_stage, min_num_steps=self.min_num_steps,
        max_num_steps=self.max_num_steps,
        make_kernel_fn=smc.gen_make_hmc_kernel_fn(self.num_leapfrog_steps),
        tuning_fn=functools.partial(smc.simple_heuristic_tuning,
                                    optimal_accept=self.target_accept),
        make_tempered_target_log_prob_fn=tempered, seed=smc_seed)
    del final_state
    info = results.particle_info
    accept = tf.reduce_mean(tf.exp(info.log_accept_prob))
    return (num_stages, results.inverse_temperature,
            results.log_marginal_likelihood, info.likelihood_log_prob, accept)

  def _counted_for(self, data):
    # The variables are made once, outside any trace's control flow: the
    # likelihood closes over the traced data.
    log_likelihood = self.make_log_likelihood(data)
    if self._counted is None:
      self._counted = CountedLikelihood(log_likelihood, self.num_particles,
                                        self.max_stage + 1)
    self._counted._log_likelihood = log_likelihood  # pylint: disable=protected-access
    return self._counted

  def _ensure_variables(self, data):
    if self._counted is None:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      with tf.init_scope():
        self._counted_for(data)

  def __call__(self, data, seed):
    """SMC on `data` (one image, [1, ...]) from the TFP seed int32 [2];
    returns an `SMCRun`."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    data = tf.convert_to_tensor(data)
    self._ensure_variables(data)
    counted = self._counted
    counted.reset()
    start = time.time()
    try:
      outputs = self._function(data, seed)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError,
            tf.errors.InternalError) as error:
      if self._jit != 'auto' or not self.jit_compiled:
        raise
      sys.stderr.write(f'smc_baseline: XLA failed ({type(error).__name__}); '
                       f'running SMC in graph mode.\n')
      self._function, self.jit_compiled = self._fallback, False
      counted.reset()
      start = time.time()
      outputs = self._function(data, seed)
    num_stages, final_beta, tfp_log_z, likelihood, accept = (
        value.numpy() for value in outputs)
    wall_time = time.time() - start
    count = int(counted.count.numpy())
    num_stages = int(num_stages)
    if count != num_stages + 1:
      raise RuntimeError(f'SMC recorded {count} stages of likelihoods for '
                         f'{num_stages} stages: the records are out of step.')
    records = counted.records.numpy()[:count]
    betas = counted.betas.numpy()[:count].copy()
    betas[0] = 0.0
    log_z = corrected_log_z(betas, records)
    distortion = rate = None
    if self.beta is not None:
      distortion = float(-np.mean(likelihood) / self.beta)
      rate = -log_z - self.beta * distortion
    gradients = int(counted.gradient_rows.numpy())
    return SMCRun(
        log_z=log_z, tfp_log_z=float(tfp_log_z), distortion=distortion,
        rate=rate, num_stages=num_stages,
        final_inverse_temperature=float(final_beta), stage_betas=betas,
        num_particles=self.num_particles,
        num_leapfrog_steps=self.num_leapfrog_steps,
        decoder_gradients=gradients,
        forward_only_rows=int(counted.forward_rows.numpy()) - gradients,
        accept_rate=float(accept), wall_time_s=wall_time,
        jit_compiled=bool(self.jit_compiled))

  @property
  def records(self):
    """(betas, likelihood rows) of the last call's stages (for tests)."""
    count = int(self._counted.count.numpy())
    betas = self._counted.betas.numpy()[:count].copy()
    betas[0] = 0.0
    return betas, self._counted.records.numpy()[:count]


def smc_seed(seed, kernel, image_index):
  """The TFP seed of SMC with `kernel` (an `SMCKernel`) on one image, apart
  from tfrd's streams."""
  from tfrd import randomness  # pylint: disable=g-import-not-at-top
  return randomness.int32_seed(seed, 0x5AC, kernel.num_leapfrog_steps,
                               kernel.min_num_steps, kernel.max_num_steps,
                               image_index)


def annealed_log_likelihood(decoder, distortion, beta, decoder_dtype):
  """data [1, ...] -> (latents [P, D] -> -β·d(x, f(z)) [P]), the same
  distortion tfrd's chains evaluate (`tfrd.target.AnnealedTarget`;
  `distortion` a `tfrd.Distortion` or its name)."""
  # pylint: disable=g-import-not-at-top
  from tfrd import distortions as distortions_lib
  from tfrd import target as target_lib
  # pylint: enable=g-import-not-at-top
  distortion = distortions_lib.get_distortion(distortion)

  def make(data):
    target = target_lib.AnnealedTarget(decoder, None, distortion, data, 1,
                                       decoder_dtype)
    return lambda latents: -beta * target.distortion_of(latents)

  return make


def calibrate_particles(make_runner, data, seed_fn, budget,
                        pilot=PILOT_PARTICLES, least=MIN_PARTICLES,
                        tolerance=BUDGET_TOLERANCE):
  """The particles that spend `budget` decoder gradients on `data`.

  A pilot run measures the gradients per particle (stages and mutation
  steps adapt, so the cost is measured, not predicted); the particles are
  scaled to the budget and the run repeated, once more if it lands
  further than `tolerance` from it.

  Args:
    make_runner: num_particles -> `SMCRunner`.
    data: the image.
    seed_fn: attempt index -> TFP seed (each attempt its own numbers).
    budget: the decoder gradients to spend.

  Returns:
    (runner, run on `data` at the calibrated particles, the attempts as
    [(particles, gradients)]).
  """
  attempts = []
  particles = pilot
  runner = run = None
  for attempt in range(3):
    runner = make_runner(particles)
    run = runner(data, seed_fn(attempt))
    attempts.append((particles, run.decoder_gradients))
    ratio = run.decoder_gradients / budget
    if attempt and abs(ratio - 1.0) <= tolerance:
      break
    scaled = max(least, int(round(particles / ratio)))
    if scaled == particles:
      break
    particles = scaled
  return runner, run, attempts


# --- The comparison ---------------------------------------------------------


def _deep_settings(settings):
  return deep_decoders.Settings(
      output_dir=settings.models_dir, decoders=settings.decoders,
      data_dir=settings.data_dir, mass_matrix=settings.mass_matrix,
      num_intermediate=settings.num_intermediate)


def model_path(settings, name):
  """The .keras file of decoder `name` (deep_accuracy's, or the linear one
  written into --output_dir)."""
  if name != LINEAR:
    return deep_decoders.decoder_path(_deep_settings(settings), name)
  problem = linear_problem()
  path = os.path.join(settings.output_dir, f'{LINEAR}.keras')
  if not os.path.exists(path):
    os.makedirs(settings.output_dir, exist_ok=True)
    problem.decoder.save(path)
  return path


def linear_problem():
  """The synthetic linear decoder of the studies (latent 10)."""
  return study_flags.linear_problem(
      'smc_baseline', study_flags.LinearDecoderSettings(
          data='synthetic', latent_dim=10), 1)


def curve_job(settings, name, path):
  """`benchmarks.deep_accuracy`'s job for decoder `name` (tfrd's defaults,
  the base schedule of `settings`), or a tiny one with `quick`."""
  import tfrd  # pylint: disable=g-import-not-at-top
  job = deep_decoders.curve_job(_deep_settings(settings), name, path)
  schedule = job.schedule._replace(beta_max=float(settings.beta))
  chains = job.chains
  if settings.quick:
    schedule = tfrd.ScheduleSettings(
        num_intermediate=settings.num_intermediate, num_rd_points=4,
        beta_max=float(settings.beta), min_before_first=max(
            2, settings.num_intermediate // 5), min_between=2)
    chains = chains._replace(num_chains=4, jit_compile=False)
  return dataclasses.replace(job, schedule=schedule, chains=chains)


def check_images(decoder, distortion, beta, image_indices, prior, chains):
  """The images `tfrd.bdmc_on_images` simulates at β: `simulate_data` with
  the seed it derives from the chains' seed and β."""
  # pylint: disable=g-import-not-at-top
  import tfrd
  from tfrd import randomness
  # pylint: enable=g-import-not-at-top
  beta_bits = int(np.float64(beta).view(np.uint64))
  return tfrd.bdmc.simulate_data(
      decoder, distortion, float(beta), len(image_indices),
      seed=randomness.derive_seed(
          chains.seed, randomness.POINT_SEED_TAGS['simulation'], beta_bits),
      prior=prior, image_indices=np.asarray(image_indices),
      decoder_dtype=chains.decoder_dtype)


def compare_decoder(settings, name):
  """tfrd's BDMC and TFP's SMC on decoder `name`; returns its record."""
  # pylint: disable=g-import-not-at-top
  import tfrd
  from adapters import priors
  from pipelines import curve_run
  # pylint: enable=g-import-not-at-top
  path = model_path(settings, name)
  job = curve_job(settings, name, path)
  decoder, _ = curve_run.load_decoder(job.model, job.distortion,
                                      'smc_baseline')
  distortion = curve_run.make_distortion(job.distortion)
  if not isinstance(distortion, tfrd.distortions.SquaredError):
    raise ValueError(f'{name}: the comparison uses squared error, not '
                     f'{type(distortion).__name__}.')
  prior = priors.prior_from_spec(job.model.prior, decoder.latent_dim)
  chains = job.chains._replace(decoder_dtype=decoder.dtype)
  beta = float(settings.beta)
  schedule = tfrd.accuracy.schedule_holding(
      tfrd.schedule_from_settings(job.schedule), [beta])
  indices = settings.first_image + np.arange(settings.num_images)

  sys.stderr.write(f'smc_baseline: {name}: tfrd BDMC at beta = {beta:g}, '
                   f'{settings.num_images} images, '
                   f'{schedule.num_transitions} transitions\n')
  (bdmc,) = tfrd.bdmc.bdmc_on_images(decoder, distortion, [beta], indices,
                                     prior, schedule, chains)
  simulated = check_images(decoder, distortion, beta, indices, prior, chains)
  if not np.array_equal(simulated.x, bdmc.simulated.x):
    raise RuntimeError('simulate_data gave other images than tfrd\'s check.')
  forward = bdmc.forward
  # The forward lower bound's whole cost per image: both passes and the
  # Hessian rows, for every chain.
  budget = int(forward.num_decoder_gradients) * chains.num_chains
  exact = None
  if name == LINEAR:
    problem = linear_problem()
    kernel, bias = problem.decoder.layers[-1].get_weights()
    exact = tfrd.linear_rate_distortion(kernel, bias, simulated.x, [beta],
                                        distortion).log_z[0]
  tfrd_record = {
      'lower': bdmc.lower.tolist(), 'upper': bdmc.upper.tolist(),
      'gap': bdmc.gap.tolist(), 'mean_gap': bdmc.mean_gap,
      'gap_stderr': bdmc.gap_stderr,
      'rate': forward.estimates[-1].rate.tolist(),
      'distortion': forward.estimates[-1].distortion.tolist(),
      'num_transitions': int(bdmc.num_transitions),
      'num_chains': chains.num_chains,
      'num_leapfrog_steps': chains.hmc.num_leapfrog_steps,
      'mass_matrix': chains.hmc.mass_matrix,
      'forward_decoder_gradients_per_image': budget,
      'bdmc_decoder_gradients_per_image':
          int(bdmc.num_decoder_gradients) * chains.num_chains,
      'forward_wall_time_s': float(sum(
          forward.wall_time_s.values())) / settings.num_images,
      'wall_time_s': float(sum(bdmc.wall_time_s.values())),
      'jit_compiled': bool(forward.jit_compiled),
  }
  sys.stderr.write(f'smc_baseline: {name}: forward AIS '
                   f'{np.mean(bdmc.lower):.2f}, reverse '
                   f'{np.mean(bdmc.upper):.2f}, gap '
                   f'{bdmc.mean_gap:.2f}; budget {budget} gradients per '
                   f'image\n')

  make_likelihood = annealed_log_likelihood(decoder, distortion, beta,
                                            chains.decoder_dtype)
  jit = chains.jit_compile if chains.jit_compile is not True else 'auto'
  smc_records = []
  for kernel in (parse_kernel(spec) for spec in settings.smc_kernels):
    make_runner = functools.partial(
        SMCRunner, make_likelihood, prior,
        num_leapfrog_steps=kernel.num_leapfrog_steps,
        min_num_steps=kernel.min_num_steps,
        max_num_steps=kernel.max_num_steps, max_stage=settings.max_stage,
        jit_compile=jit, beta=beta)
    start = time.time()
    runner, _, attempts = calibrate_particles(
        make_runner, simulated.x[:1],
        lambda attempt, kernel=kernel: smc_seed(
            settings.seed + 1000 * (attempt + 1), kernel, int(indices[0])),
        budget)
    calibration_s = time.time() - start
    # The calibration ran on the first image with seeds of its own; every
    # image is then run on its own seed at the calibrated particles.
    runs = []
    for position, index in enumerate(indices):
      run = runner(simulated.x[position:position + 1],
                   smc_seed(settings.seed, kernel, int(index)))
      runs.append(run)
      sys.stderr.write(
          f'smc_baseline: {name}: {kernel.label} image {index}: log Z '
          f'{run.log_z:.2f} (TFP reports {run.tfp_log_z:.2f}), '
          f'{run.num_stages} stages, {run.num_particles} particles, '
          f'{run.decoder_gradients} gradients '
          f'({run.decoder_gradients / budget:.2f} of the budget), '
          f'{run.wall_time_s:.0f} s\n')
    smc_records.append({
        'kernel': kernel.spec,
        'num_leapfrog_steps': kernel.num_leapfrog_steps,
        'min_num_steps': kernel.min_num_steps,
        'max_num_steps': kernel.max_num_steps,
        'num_particles': runner.num_particles,
        'calibration': [{'particles': p, 'decoder_gradients': g}
                        for p, g in attempts],
        'calibration_wall_time_s': calibration_s,
        'runs': [run.as_record() for run in runs],
    })
  return {
      'decoder': name, 'model': os.path.abspath(path),
      'latent_dim': int(decoder.latent_dim), 'beta': beta,
      'num_intermediate': job.schedule.num_intermediate,
      'image_indices': indices.tolist(),
      'exact_log_z': None if exact is None else exact.tolist(),
      'tfrd': tfrd_record, 'smc': smc_records,
  }


def _mean_se(values):
  values = np.asarray(values, np.float64)
  if values.size < 2:
    return float(values.mean()), None
  return float(values.mean()), float(values.std(ddof=1) /
                                     math.sqrt(values.size))


def _pm(values, digits=2):
  mean, stderr = _mean_se(values)
  return (f'{mean:.{digits}f}' if stderr is None else
          f'{mean:.{digits}f} ± {stderr:.{digits}f}')


def summarize(record):
  """Per method: the mean lower bound, the gap it leaves below the reverse
  upper bound (± s.e. over images), its decoder gradients per image and
  wall time, and the paired difference to tfrd's forward bound."""
  upper = np.asarray(record['tfrd']['upper'])
  tfrd_lower = np.asarray(record['tfrd']['lower'])
  rows = [{
      'label': 'tfrd AIS',
      'method': (f'tfrd AIS (forward, {record["tfrd"]["mass_matrix"]}, '
                 f'L={record["tfrd"]["num_leapfrog_steps"]}, '
                 f'{record["tfrd"]["num_chains"]} chains)'),
      'lower': tfrd_lower, 'tfp_lower': None,
      'gradients': [record['tfrd']['forward_decoder_gradients_per_image']] *
                   upper.size,
      'wall_time_s': [record['tfrd']['forward_wall_time_s']] * upper.size,
      'rate': record['tfrd']['rate'], 'stages': None,
  }]
  for smc in record['smc']:
    runs = smc['runs']
    kernel = parse_kernel(smc['kernel'])
    rows.append({
        'label': kernel.label,
        'method': f'{kernel.description}, {smc["num_particles"]} particles)',
        'lower': np.array([run['log_z'] for run in runs]),
        'tfp_lower': np.array([run['tfp_log_z'] for run in runs]),
        'gradients': [run['decoder_gradients'] for run in runs],
        'wall_time_s': [run['wall_time_s'] for run in runs],
        'rate': [run['rate'] for run in runs],
        'stages': [run['num_stages'] for run in runs],
    })
  for row in rows:
    row['gap'] = upper - row['lower']
    row['minus_tfrd'] = row['lower'] - tfrd_lower
  return rows


def format_table(records):
  """The results as markdown: per image, then the means."""
  lines = []
  for record in records:
    exact = record['exact_log_z']
    rows = summarize(record)
    lines += [
        f'**{record["decoder"]}** (code {record["latent_dim"]}), β = '
        f'{record["beta"]:g}, {len(record["image_indices"])} simulated '
        f'images, tfrd base schedule {record["num_intermediate"]:,} '
        f'({record["tfrd"]["num_transitions"]:,} transitions); reverse AIS '
        f'upper bound {_pm(record["tfrd"]["upper"])}'
        + ('' if exact is None else f', exact log Z {_pm(exact)}') + ':', '',
        '| method | log Ẑ (mean ± s.e.) | gap below the upper bound | '
        'minus tfrd\'s log Ẑ (paired) | TFP\'s own log Ẑ | R̂ | stages | '
        'decoder gradients per image | wall time per image |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for row in rows:
      tfp_value = ('' if row['tfp_lower'] is None else
                   _pm(row['tfp_lower']))
      stages = ('' if row['stages'] is None else
                f'{np.mean(row["stages"]):.0f}')
      lines.append(
          f'| {row["method"]} | {_pm(row["lower"])} | {_pm(row["gap"])} | '
          f'{_pm(row["minus_tfrd"])} | {tfp_value} | {_pm(row["rate"])} | '
          f'{stages} | {np.mean(row["gradients"]):.3g} | '
          f'{np.mean(row["wall_time_s"]):.0f} s |')
    header = ' | '.join(f'{row["label"]}: log Ẑ (gap)' for row in rows)
    lines += ['', f'| image | upper bound | {header} |',
              '| --- | --- | ' + ' | '.join('---' for _ in rows) + ' |']
    for image, upper in enumerate(record['tfrd']['upper']):
      lines.append(f'| {record["image_indices"][image]} | {upper:.2f} | ' +
                   ' | '.join(f'{row["lower"][image]:.2f} '
                              f'({row["gap"][image]:.2f})' for row in rows) +
                   ' |')
    lines.append('')
  return '\n'.join(lines)


def run(settings):
  """Compares on every decoder of `settings`; writes and returns the
  records."""
  from tfrd import files  # pylint: disable=g-import-not-at-top
  os.makedirs(settings.output_dir, exist_ok=True)
  records = []
  for name in settings.decoders:
    records.append(compare_decoder(settings, name))
    with files.atomic_write(os.path.join(settings.output_dir,
                                         'smc_baseline.json')) as stream:
      json.dump({'settings': dataclasses.asdict(settings),
                 'decoders': records}, stream, indent=1)
  table = format_table(records)
  with files.atomic_write(os.path.join(settings.output_dir,
                                       'smc_baseline.md')) as stream:
    stream.write(table)
  print(table)
  return records


def main(argv):
  del argv  # jobs.run refused stray arguments.
  # Bad flags are bad input too: one line and status 2, as for the job's.
  return jobs.run_job('smc_baseline', lambda: run(settings_from_flags()),
                      (ValueError, OSError))


if __name__ == '__main__':
  define_flags()
  jobs.run(main)
