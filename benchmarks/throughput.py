r"""How fast does tfrd's AIS loop run on the paper's MNIST decoders?

    TFRD_DATA_DIR=../shared/data python -m benchmarks.throughput \
        --decoders=tiny,shallow,deep --json=runs/throughput.json
    TFRD_DATA_DIR=../shared/data python -m benchmarks.throughput \
        --decoders= --paper_setting            # the paper's run, projected

Why it exists: the cost of a curve is (transitions) × (passes) × (seconds per
transition), and a transition costs L decoder gradient evaluations at batch
K·B (chains × images). This benchmark measures the last factor on the real
production path, `tfrd.ais.TransitionRunner.run_chunk` with jit 'auto', so
the figure includes what a run pays besides the decoder: the per-block draw
of momenta and acceptance uniforms (one block of 32 transitions per chunk),
the float64 chain arithmetic, and the host round trip after every chunk. It
then puts that figure next to what the hardware can do: the same process's
best fp32 2048×2048 `tf.matmul` throughput.

How to read it (one row per decoder):

- `s/transition`: steady-state wall time of one HMC transition of all K·B
  chains, compile excluded: the best of --repetitions passes over a fixed
  geometric schedule of T inverse temperatures, divided by T (best, not
  median, because other processes can only slow a repetition down; the
  JSON has the median too). T is --num_transitions unless a probe
  transition says a repetition would exceed --max_repetition_s: then T is
  cut to whole random blocks of 32 (column T shows it). `compile_s` is the
  wall time of the warm-up chunk (one transition) that traced and compiled
  the loop.
- `useful GFLOP/s`: the decoder's dense FLOPs per transition divided by the
  seconds per transition. A dense m×n layer counts 2mn per row forward and
  2mn per row backward to its input (HMC needs ∂d/∂z, never weight
  gradients); a transition makes L such forward + backward passes over K·B
  rows. Activations, the distortion and the chain update are not counted:
  they are the overhead the ratio exposes.
- `ratio`: useful GFLOP/s over matmul GFLOP/s, the fraction of this
  machine's reachable fp32 peak the AIS loop turns into decoder work. Small
  decoders (tiny) are dominated by overhead; large ones (deep) come closer
  to 1. Above 1 means the reference was slowed down by load (both figures
  are best-of, but measured at different moments) or the decoder's GEMMs
  beat a square matmul here.
- `bare GFLOP/s` and `of bare`: the same FLOPs through the decoder's bare
  gradient, ∂/∂z Σ‖x − f(z)‖² in one XLA loop of T·L dependent calls and
  nothing else (`time_bare_gradient`), and tfrd's s/transition as a
  fraction of it. The bare figure is the ceiling this decoder, TensorFlow
  and XLA allow here (its own ratio to the matmul shows how well XLA runs
  the decoder's GEMM shapes: tiny's 800×128·128×784 forward product reaches
  less of the square reference than a 2048³ product); `of bare` is what is
  left to tfrd's chain machinery (float64 state, prior, random draws,
  accept test, host round trips).
- `peak MB`: the process's peak resident memory so far (ru_maxrss); it
  only grows, so a row includes every decoder measured before it.

--paper_setting adds the projected wall time of the paper's MNIST run
(appendix D.2: deep decoder, code size 10, 40 chains × 50 images, L = 20,
two passes) on this machine, from a short measured run at exactly those
sizes, and, labelled as a PROJECTION, on a GPU of the given fp32 / TF32
throughput, from the counted FLOPs and the ratio measured here.

The flags become a `ThroughputSettings` (`settings_from_flags`, which refuses
bad values in one line), and `run(settings)` measures; TensorFlow loads only
then, so `--help` and bad flags answer at once.
"""

import collections
import dataclasses
import datetime
import gzip
import json
import math
import os
import platform
import resource
import struct
import sys
import textwrap
import time

from absl import flags
import numpy as np

from pipelines import jobs
from pipelines import settings as pipeline_settings
import tfrd
from tfrd import decoders
from tfrd import files

FLAGS = flags.FLAGS

_PROGRAM = 'throughput'

# The MLP decoders of Huang et al. (2020)'s MNIST experiments: (code size,
# hidden widths); tanh hidden layers and a sigmoid output of 784 pixels.
DECODERS = {
    'tiny': (2, (128,)),
    'shallow': (10, (1024,)),
    'deep': (10, (1024, 1024, 1024)),
    # The deep decoder of the paper's 100-dimensional models (GAN100, ...),
    # whose curves take 1.6 million distributions (benchmarks/paper_scale).
    'deep100': (100, (1024, 1024, 1024)),
}
# The three the issue's comparison with the paper authors' code used.
_DEFAULT_DECODERS = ['tiny', 'shallow', 'deep']
_IMAGE_SIZE = 784
_MNIST_TEST_IMAGES = 't10k-images-idx3-ubyte.gz'
_IDX3_MAGIC = 2051

# What the paper states for its MNIST setting: the length of its schedule
# (tfrd's reading of appendix D.2 builds 52,713; README, --preset=paper) and
# its wall time on one P100; and what this project aims at.
_PAPER_TRANSITIONS = 60292
_PAPER_HOURS_P100 = (4, 7)
_GOAL_MINUTES_H100 = 15


class UsageError(Exception):
  """Bad flags or missing data: reported as one line, exit status 2."""


_POSITIVE_INTEGERS = ('num_chains', 'num_images', 'leapfrog_steps',
                      'num_transitions', 'repetitions', 'matmul_size',
                      'matmul_repetitions', 'paper_transitions',
                      'paper_repetitions')
_NON_NEGATIVE = ('max_repetition_s', 'chunk_overhead_us')
_POSITIVE = ('step_size', 'device_tflops_fp32', 'device_tflops_tf32')


@dataclasses.dataclass(frozen=True)
class ThroughputSettings:
  """What the benchmark measures; each field is the flag of its name.

  Attributes:
    decoders: names of `DECODERS` to measure (may be empty with
      paper_setting).
    num_chains, num_images, leapfrog_steps: K, B and L of every row.
    num_transitions, max_repetition_s, repetitions: T per timed repetition,
      the time budget that may cut it, and the repetitions (best counts).
    step_size: the frozen HMC step size of every chain.
    seed: seed of the decoder weights and the chains.
    data_dir: the directory holding mnist/t10k-images-idx3-ubyte.gz (None:
      $TFRD_DATA_DIR).
    json: also write the results to this file (None: no file).
    matmul_size, matmul_repetitions: the fp32 matmul reference.
    paper_setting: also project the paper's MNIST run; paper_transitions
      and paper_repetitions time its short run.
    device_tflops_fp32, device_tflops_tf32, chunk_overhead_us: the GPU of
      the projection.
    mass_matrix: the transitions' mass matrix (`tfrd.HMCSettings`); with
      'hessian' each row also times one anchor's Hessians.

  Raises:
    UsageError: for a value no run can use, one line naming the flag.
  """
  decoders: tuple = tuple(_DEFAULT_DECODERS)
  num_chains: int = 16
  num_images: int = 50
  leapfrog_steps: int = 20
  num_transitions: int = 256
  max_repetition_s: float = 20.0
  repetitions: int = 3
  step_size: float = 0.05
  seed: int = 0
  data_dir: str = None
  json: str = None
  matmul_size: int = 2048
  matmul_repetitions: int = 5
  paper_setting: bool = False
  paper_transitions: int = 32
  paper_repetitions: int = 1
  device_tflops_fp32: float = 67.0
  device_tflops_tf32: float = 495.0
  chunk_overhead_us: float = 50.0
  mass_matrix: str = 'identity'

  def __post_init__(self):
    if self.mass_matrix not in ('identity', 'hessian'):
      raise UsageError(f"--mass_matrix must be 'identity' or 'hessian', got "
                       f'{self.mass_matrix!r}.')
    unknown = [name for name in self.decoders if name not in DECODERS]
    if unknown:
      raise UsageError(f'unknown decoder(s) {unknown}; choose from '
                       f'{list(DECODERS)}.')
    if not self.decoders and not self.paper_setting:
      raise UsageError('--decoders is empty (allowed only with '
                       '--paper_setting).')
    for name in _POSITIVE_INTEGERS:
      if getattr(self, name) < 1:
        raise UsageError(f'--{name} must be a positive integer, got '
                         f'{getattr(self, name)}.')
    for name in _NON_NEGATIVE:
      value = getattr(self, name)
      if not (math.isfinite(value) and value >= 0):
        raise UsageError(f'--{name} must be >= 0, got {value}.')
    for name in _POSITIVE:
      value = getattr(self, name)
      if not (math.isfinite(value) and value > 0):
        raise UsageError(f'--{name} must be positive, got {value}.')

  def values(self, names):
    """{name: value} of the named fields, as the JSON records them."""
    return {name: (list(getattr(self, name)) if name == 'decoders'
                   else getattr(self, name)) for name in names}


_DEFAULTS = ThroughputSettings()

flags.DEFINE_list('decoders', list(_DEFAULTS.decoders),
                  f'Decoders to measure, from {list(DECODERS)}; may be empty '
                  'with --paper_setting.')
flags.DEFINE_integer('num_chains', _DEFAULTS.num_chains,
                     'AIS chains per image (K).')
flags.DEFINE_integer('num_images', _DEFAULTS.num_images,
                     'MNIST test images (B), the first ones.')
flags.DEFINE_integer('leapfrog_steps', _DEFAULTS.leapfrog_steps,
                     'Leapfrog steps per transition (L), each one decoder '
                     'gradient.')
flags.DEFINE_integer(
    'num_transitions', _DEFAULTS.num_transitions,
    'Timed transitions per repetition (T); a multiple of 32 (one random '
    'block) keeps every chunk full, as in a long run.')
flags.DEFINE_float(
    'max_repetition_s', _DEFAULTS.max_repetition_s,
    'Time budget of one repetition: when a probe transition says T would '
    'take longer, T is cut to the largest multiple of 32 that fits (at least '
    '32; the table shows the T used). Keeps the deep decoder to minutes on a '
    'CPU; 0 never cuts.')
flags.DEFINE_integer('repetitions', _DEFAULTS.repetitions,
                     'Timed repetitions per decoder; the best one is reported.')
flags.DEFINE_float('step_size', _DEFAULTS.step_size,
                   'The frozen HMC step size of every chain (no adaptation; '
                   'the cost does not depend on it).')
flags.DEFINE_integer('seed', _DEFAULTS.seed,
                     'Seed of the decoder weights and the chains.')
flags.DEFINE_string('data_dir', None,
                    f'Directory holding mnist/{_MNIST_TEST_IMAGES} (default: '
                    '$TFRD_DATA_DIR).')
flags.DEFINE_string('json', None, 'Also write the results to this JSON file.')
flags.DEFINE_integer('matmul_size', _DEFAULTS.matmul_size,
                     'n of the n×n fp32 matmul that measures reachable peak.')
flags.DEFINE_integer('matmul_repetitions', _DEFAULTS.matmul_repetitions,
                     'Timed calls of the matmul loop per mode (graph, XLA) '
                     'and session (before and after the decoders); the best '
                     'call counts.')
flags.DEFINE_bool(
    'paper_setting', _DEFAULTS.paper_setting,
    'Also project the wall time of the paper\'s MNIST run (--preset=paper: '
    'deep decoder, 40 chains x 50 images, L = 20, two passes) on this '
    'machine and, as a PROJECTION, on the GPU the --device_* flags describe.')
flags.DEFINE_integer(
    'paper_transitions', _DEFAULTS.paper_transitions,
    'Timed transitions of the short run at the paper\'s sizes (32 = one '
    'random block; minutes on a CPU).')
flags.DEFINE_integer('paper_repetitions', _DEFAULTS.paper_repetitions,
                     'Timed repetitions of that short run (best reported).')
flags.DEFINE_float(
    'device_tflops_fp32', _DEFAULTS.device_tflops_fp32,
    'Dense fp32 TFLOP/s of the projected GPU. Default: the published figure '
    'of an NVIDIA H100 SXM (67 TFLOP/s FP32).')
flags.DEFINE_float(
    'device_tflops_tf32', _DEFAULTS.device_tflops_tf32,
    'Dense TF32 tensor-core TFLOP/s of the projected GPU. Default: the '
    'published figure of an NVIDIA H100 SXM without sparsity (495 TFLOP/s; '
    '989 is the figure with sparsity).')
flags.DEFINE_float(
    'chunk_overhead_us', _DEFAULTS.chunk_overhead_us,
    'Assumed host round trip plus kernel-launch overhead per chunk (<= 32 '
    'transitions) on the GPU, in microseconds, added to the projection.')


flags.DEFINE_enum(
    'mass_matrix', _DEFAULTS.mass_matrix, ['identity', 'hessian'],
    "The transitions' HMC mass matrix; 'hessian' also times one anchor's "
    'Hessians (tfrd.preconditioning) against the bare gradient.')


def settings_from_flags():
  """The `ThroughputSettings` of the flags (benchmarks.feature_distortion
  and benchmarks.replication share them).

  Raises:
    UsageError: for bad values, before any work.
  """
  values = {field.name: FLAGS[field.name].value
            for field in dataclasses.fields(ThroughputSettings)}
  values['decoders'] = tuple(values['decoders'])
  return ThroughputSettings(**values)


def _progress(message):
  sys.stderr.write(f'{_PROGRAM}: {message}\n')
  sys.stderr.flush()


def load_mnist_test_images(num_images, data_dir=None):
  """The first `num_images` MNIST test images: [B, 784] float32 in [0, 1].

  Read straight from the original gzip file, so the benchmark needs neither
  TFDS nor a network (TFDS would also reorder the split).

  Raises:
    UsageError: if the file is missing, malformed or too short.
  """
  data_dir = data_dir or os.environ.get('TFRD_DATA_DIR')
  if not data_dir:
    raise UsageError(f'no MNIST directory: give --data_dir or set '
                      f'TFRD_DATA_DIR to a directory holding '
                      f'mnist/{_MNIST_TEST_IMAGES}.')
  path = os.path.join(data_dir, 'mnist', _MNIST_TEST_IMAGES)
  if not os.path.isfile(path):
    raise UsageError(f'MNIST test images not found: {path} (give --data_dir '
                      'or set TFRD_DATA_DIR).')
  try:
    with gzip.open(path, 'rb') as stream:
      magic, count, rows, cols = struct.unpack('>IIII', stream.read(16))
      if magic != _IDX3_MAGIC or rows * cols != _IMAGE_SIZE:
        raise UsageError(f'{path} is not an MNIST IDX3 image file (magic '
                          f'{magic}, {rows}x{cols} images).')
      if num_images > count:
        raise UsageError(f'{path} holds {count} images; --num_images='
                          f'{num_images} asks for more.')
      pixels = stream.read(num_images * _IMAGE_SIZE)
  except (OSError, EOFError, struct.error) as error:
    raise UsageError(f'cannot read {path}: {error}') from None
  if len(pixels) != num_images * _IMAGE_SIZE:
    raise UsageError(f'{path} is truncated.')
  images = np.frombuffer(pixels, dtype=np.uint8).reshape(num_images,
                                                         _IMAGE_SIZE)
  return images.astype(np.float32) / 255.0


def build_decoder(name, seed=0):
  """The named MLP as a Keras 3 model with fixed (untrained) weights."""
  import keras  # pylint: disable=g-import-not-at-top
  latent_dim, hidden = DECODERS[name]
  layers = [keras.Input((latent_dim,))]
  for i, width in enumerate(hidden + (_IMAGE_SIZE,)):
    layers.append(keras.layers.Dense(
        width, activation='tanh' if i < len(hidden) else 'sigmoid',
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i)))
  return keras.Sequential(layers, name=name)


def layer_shapes(name):
  """(inputs, outputs) of each dense layer of the named decoder."""
  latent_dim, hidden = DECODERS[name]
  widths = (latent_dim,) + hidden + (_IMAGE_SIZE,)
  return list(zip(widths[:-1], widths[1:]))


def flops_per_transition(name, num_rows, num_leapfrog_steps):
  """Useful dense FLOPs of one transition: L × (forward + backward to input).

  Each m×n layer costs 2mn per row forward and 2mn per row for the gradient
  with respect to its input; no weight gradients are needed.
  """
  per_row = sum(4 * m * n for m, n in layer_shapes(name))
  return num_leapfrog_steps * num_rows * per_row


class MatmulBenchmark:
  """Best fp32 size×size `tf.matmul` throughput of this process, in GFLOP/s.

  A traced loop of dependent matmuls (so none can be skipped or overlapped
  with the host), reduced to a scalar that is fetched to the host, so the
  time covers the whole computation but not a large copy. It runs both as a
  graph and XLA-compiled (the AIS loop runs under XLA, whose CPU matmul is
  not the graph's), and the best call of either counts. `measure` may be
  called more than once (before and after the decoders): the best call of
  all sessions counts, so a burst of load from other processes during one
  session does not lower the reference and inflate the ratios.
  """

  def __init__(self, size, per_call=4):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self.size = size
    self.per_call = per_call
    rng = np.random.default_rng(0)
    self._a = tf.constant(rng.standard_normal((size, size)), tf.float32)
    # Scaled so repeated products keep their magnitude (no inf, no denormals).
    self._b = tf.constant(rng.standard_normal((size, size)) / math.sqrt(size),
                          tf.float32)

    def products(a, b):
      for _ in range(per_call):
        a = tf.matmul(a, b)
      return tf.reduce_sum(a)

    self._functions = {'graph': tf.function(products, jit_compile=False),
                       'xla': tf.function(products, jit_compile=True)}
    for function in self._functions.values():
      function(self._a, self._b).numpy()  # traces and compiles
    self.seconds = {mode: [] for mode in self._functions}

  def measure(self, repetitions):
    """Times `repetitions` more calls of each mode; returns the best GFLOP/s."""
    for _ in range(repetitions):
      for mode, function in self._functions.items():
        start = time.perf_counter()
        function(self._a, self._b).numpy()
        self.seconds[mode].append(time.perf_counter() - start)
    return self.gflops

  def _gflops(self, seconds):
    return 2.0 * self.size ** 3 * self.per_call / seconds / 1e9

  @property
  def gflops(self):
    return self._gflops(min(min(times) for times in self.seconds.values()))

  def to_json(self):
    return {'size': self.size, 'matmuls_per_call': self.per_call,
            'flops_per_call': 2 * self.size ** 3 * self.per_call,
            'seconds': self.seconds,
            'gflops_by_mode': {mode: self._gflops(min(times))
                               for mode, times in self.seconds.items()},
            'gflops': self.gflops}


def _peak_memory_mb():
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  # Linux reports kilobytes, macOS bytes.
  return peak / (2.0 ** 20 if sys.platform == 'darwin' else 1024.0)


def _run_chunks(runner, chain, schedule, run_seed, image_indices, step_sizes,
                metric=None):
  """One frozen-step-size pass over `schedule`, as `tfrd.ais` runs it.

  Like the reported pass of a run: the step sizes are set before every
  chunk, and after it the acceptance and step sizes come back to the host.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfrd import ais  # pylint: disable=g-import-not-at-top
  boundaries = ais.chunk_boundaries(schedule)
  accept = []
  for index, end in enumerate(boundaries):
    first = int(boundaries[index - 1]) + 1 if index else 1
    num_steps = int(end) - first + 1
    chain = chain._replace(step_size=tf.constant(step_sizes, tf.float64))
    chain, accept_sum, log_step_sum = runner.run_chunk(
        chain, schedule.betas[first:end + 1], run_seed, first, image_indices,
        metric=metric)
    # Both come to the host after every chunk in a run (the step-size table
    # and the progress line), so the chunk's work is finished here too.
    log_step_sum.numpy()
    accept.append(float(np.mean(accept_sum.numpy())) / num_steps)
  return chain, float(np.mean(accept))


def _probe_transitions(requested, probe_s, max_repetition_s):
  """Transitions per repetition: `requested`, cut to fit the time budget.

  A cut keeps whole random blocks (a multiple of 32, at least one block),
  so every chunk still draws its noise for 32 transitions, as in a run.
  """
  if not max_repetition_s or requested * probe_s <= max_repetition_s:
    return requested
  block = tfrd.randomness.BLOCK_SIZE
  fitting = int(max_repetition_s / probe_s) // block * block
  return min(requested, max(block, fitting))


def time_bare_gradient(decoder, images, num_chains, num_leapfrog_steps,
                       num_transitions, repetitions, seed=0):
  """Seconds per L bare decoder gradients at batch K·B: tfrd's ceiling.

  The decoder's own ∂/∂z Σ‖x − f(z)‖² (float32, inference mode) in one
  XLA-compiled loop of T·L dependent evaluations, each moving z a little
  along its gradient (as a leapfrog step does), and nothing else: no prior,
  no float64 chain state, no random draws, no accept test, no host round
  trip. It is the most any HMC transition of L gradients could reach with
  this decoder, TensorFlow and XLA on this machine, so tfrd's seconds per
  transition over this figure is what tfrd's own machinery costs, apart
  from how well XLA runs the decoder's matmuls at these shapes (which the
  2048×2048 reference does not show).

  Returns:
    The best of `repetitions` timed calls, divided by T.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  num_rows = images.shape[0] * num_chains
  latent_dim = int(decoder.inputs[0].shape[-1])
  data = tf.repeat(tf.constant(images, tf.float32), num_chains, axis=0)
  count = tf.constant(num_transitions * num_leapfrog_steps)

  @tf.function(jit_compile=True)
  def gradients(latents, count):
    def body(step, latents):
      with tf.GradientTape() as tape:
        tape.watch(latents)
        outputs = tf.reshape(
            decoders.call_in_inference_mode(decoder, latents),
            [num_rows, -1])
        distortion = tf.reduce_sum(tf.square(outputs - data))
      return step + 1, latents - 1e-4 * tape.gradient(distortion, latents)
    return tf.reduce_sum(
        tf.while_loop(lambda step, _: step < count, body, (0, latents))[1])

  latents = tf.constant(np.random.default_rng(seed).standard_normal(
      [num_rows, latent_dim]), tf.float32)
  gradients(latents, tf.constant(1)).numpy()  # traces and compiles
  times = []
  for _ in range(repetitions):
    start = time.perf_counter()
    gradients(latents, count).numpy()
    times.append(time.perf_counter() - start)
  return min(times) / num_transitions


class TimingPlan(
    collections.namedtuple('TimingPlan', ['num_transitions', 'repetitions',
                                          'max_repetition_s',
                                          'bare_gradient'])):
  """How `time_decoder` times a decoder.

  Attributes:
    num_transitions: transitions per timed repetition T.
    repetitions: timed repetitions; the best counts.
    max_repetition_s: if not None, T is cut (see `_probe_transitions`) when
      a probe transition says a repetition would take longer.
    bare_gradient: also time the bare decoder gradient at the same T
      (`time_bare_gradient`, squared error only).
  """
  __slots__ = ()

  def __new__(cls, num_transitions, repetitions, max_repetition_s=None,
              bare_gradient=True):
    return super().__new__(cls, int(num_transitions), int(repetitions),
                           max_repetition_s, bool(bare_gradient))


def time_decoder(name, images, num_chains, num_leapfrog_steps, plan,
                 step_size=0.05, seed=0, distortion=None, jit_compile='auto',
                 mass_matrix='identity'):
  """Measures steady-state seconds per transition of one decoder.

  Args:
    name: a key of `DECODERS`.
    images: [B, 784] float32 data.
    num_chains: chains per image K.
    num_leapfrog_steps: L.
    plan: a `TimingPlan` (transitions per repetition, repetitions, the cap
      on a repetition's time, whether to time the bare gradient too).
    step_size: the frozen step size of every chain.
    seed: seed of the weights, the initial states and the noise.
    distortion: a `tfrd.Distortion` (default squared error). The FLOP
      figures count the decoder only, whatever the distortion costs.
    jit_compile: the AIS loop's mode, as `tfrd.estimate_rd_curve` takes it.
    mass_matrix: 'identity', or 'hessian': the transitions use the mass
      matrix of the Hessians measured at the initial states, and one such
      measurement (an anchor, `tfrd.preconditioning`) is timed too.

  Returns:
    A dict of the measurement (see the module docstring).
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfrd import ais
  from tfrd import preconditioning
  from tfrd import randomness
  # pylint: enable=g-import-not-at-top
  num_transitions, repetitions = plan.num_transitions, plan.repetitions
  max_repetition_s = plan.max_repetition_s
  latent_dim = DECODERS[name][0]
  num_images = images.shape[0]
  num_rows = num_images * num_chains
  decoder = build_decoder(name, seed)
  target = tfrd.AnnealedTarget(decoder, tfrd.standard_normal_prior(latent_dim),
                               distortion or tfrd.SquaredError(), images,
                               num_chains, tf.float32)
  settings = tfrd.HMCSettings(num_leapfrog_steps=num_leapfrog_steps,
                              step_size_mode='fixed',
                              initial_step_size=step_size)
  runner = ais.TransitionRunner(target, settings, jit_compile=jit_compile)
  image_indices = np.arange(num_images, dtype=np.int64)
  step_sizes = np.full([num_rows], step_size)
  latents = tf.constant(np.random.default_rng(seed).standard_normal(
      [num_rows, latent_dim]))
  start_chain = ais.ChainState(
      latents, runner.evaluate(latents), tf.zeros([num_rows], tf.float64),
      tf.constant(step_sizes), tf.constant(0.0, tf.float64))
  metric, hessian_s = None, None
  if mass_matrix == 'hessian':
    runner.mean_hessian(latents)  # traces
    start = time.perf_counter()
    hessians = runner.mean_hessian(latents).numpy()
    hessian_s = time.perf_counter() - start
    metric = tuple(tf.constant(part) for part in
                   preconditioning.eigen_table_row(hessians))

  def one_transition(seed_tag):
    # Each with its own seed, so it draws a random block afresh, and so
    # does the first timed chunk after it.
    start = time.perf_counter()
    _, accept_sum, _ = runner.run_chunk(
        start_chain, np.array([1.0]), randomness.derive_seed(seed, seed_tag),
        1, image_indices, metric=metric)
    accept_sum.numpy()
    return time.perf_counter() - start

  _progress(f'{name}: compiling (warm-up chunk of one transition, '
            f'{num_rows} chains)')
  compile_s = one_transition(1000)
  probe_s = one_transition(1001)
  requested = num_transitions
  num_transitions = _probe_transitions(requested, probe_s, max_repetition_s)
  if num_transitions != requested:
    _progress(f'{name}: {requested} transitions would take about '
              f'{requested * probe_s:.0f} s a repetition; timing '
              f'{num_transitions} (--max_repetition_s={max_repetition_s:g})')
  # The betas do not change the cost (both HMC branches are computed); a
  # geometric sweep over the paper's range keeps the chains realistic.
  schedule = tfrd.AnnealingSchedule(
      tfrd.geometric_betas(num_transitions,
                           pipeline_settings.PRESETS['paper']['beta_max'],
                           1.0 / 12.0),
      [num_transitions])

  times = []
  for repetition in range(repetitions):
    # A fresh seed per repetition: every chunk draws its block's noise, as
    # in a run (`TransitionRunner` reuses the last block's numbers).
    run_seed = randomness.derive_seed(seed, repetition)
    start = time.perf_counter()
    _, accept_rate = _run_chunks(runner, start_chain, schedule, run_seed,
                                 image_indices, step_sizes, metric)
    times.append(time.perf_counter() - start)
    _progress(f'{name}: repetition {repetition + 1}/{repetitions}: '
              f'{times[-1]:.3f} s for {num_transitions} transitions '
              f'(accept {accept_rate:.2f})')
  seconds_per_transition = min(times) / num_transitions
  flops = flops_per_transition(name, num_rows, num_leapfrog_steps)
  bare_s = None
  if plan.bare_gradient:
    _progress(f'{name}: the bare decoder gradient, {num_transitions} x '
              f'{num_leapfrog_steps} in one XLA loop')
    bare_s = time_bare_gradient(decoder, images, num_chains,
                                num_leapfrog_steps, num_transitions,
                                repetitions, seed)
  return {
      'decoder': name,
      'latent_dim': latent_dim,
      'layers': [list(shape) for shape in layer_shapes(name)],
      'num_chains': num_chains,
      'num_images': num_images,
      'batch_rows': num_rows,
      'leapfrog_steps': num_leapfrog_steps,
      'num_transitions': num_transitions,
      'num_transitions_requested': requested,
      'probe_transition_s': probe_s,
      'num_chunks': int(ais.chunk_boundaries(schedule).size),
      'seconds_per_transition': seconds_per_transition,
      'median_seconds_per_transition': float(np.median(times)) /
                                       num_transitions,
      'repetition_seconds': times,
      'compile_s': compile_s,
      'decoder_gradients_per_transition': settings.num_leapfrog_steps,
      'flops_per_transition': flops,
      'useful_gflops': flops / seconds_per_transition / 1e9,
      'bare_seconds_per_transition': bare_s,
      'bare_gflops': flops / bare_s / 1e9 if bare_s else None,
      'ratio_of_bare': bare_s / seconds_per_transition if bare_s else None,
      'accept_rate': accept_rate,
      'jit_compiled': runner.jit_compiled,
      'peak_memory_mb': _peak_memory_mb(),
      'mass_matrix': mass_matrix,
      'hessian_seconds': hessian_s,
      # One Hessian row (a Hessian-vector product) in bare decoder
      # gradients: tfrd counts it as preconditioning.HESSIAN_ROW_GRADIENTS.
      'hessian_row_gradients': (
          hessian_s / (num_images * min(num_chains,
                                        preconditioning.HESSIAN_CHAINS) *
                       latent_dim) / (bare_s / (num_leapfrog_steps * num_rows))
          if hessian_s and bare_s else None),
  }


_COLUMNS = (
    # (header, width, format of the value)
    ('decoder', 8, lambda r: r['decoder']),
    ('K·B', 6, lambda r: str(r['batch_rows'])),
    ('L', 3, lambda r: str(r['leapfrog_steps'])),
    ('T', 5, lambda r: str(r['num_transitions'])),
    ('s/transition', 12, lambda r: f'{r["seconds_per_transition"]:.4g}'),
    ('compile_s', 9, lambda r: f'{r["compile_s"]:.2f}'),
    ('grads/trans', 11, lambda r: str(r['decoder_gradients_per_transition'])),
    ('useful GFLOP/s', 14, lambda r: f'{r["useful_gflops"]:.2f}'),
    ('matmul GFLOP/s', 14, lambda r: f'{r["matmul_gflops"]:.2f}'),
    ('ratio', 6, lambda r: f'{r["ratio_of_matmul"]:.3f}'),
    ('bare GFLOP/s', 12,
     lambda r: f'{r["bare_gflops"]:.2f}' if r.get('bare_gflops') else '-'),
    ('of bare', 7,
     lambda r: f'{r["ratio_of_bare"]:.3f}' if r.get('ratio_of_bare') else '-'),
    ('peak MB', 8, lambda r: f'{r["peak_memory_mb"]:.0f}'),
    ('xla', 3, lambda r: 'yes' if r['jit_compiled'] else 'no'),
)


def format_table(rows):
  """Rows as a text table with right-aligned columns (decoder left)."""
  def line(cells):
    return '  '.join(cell.ljust(width) if i == 0 else cell.rjust(width)
                     for i, (cell, (_, width, _)) in
                     enumerate(zip(cells, _COLUMNS))).rstrip()
  lines = [line([header for header, _, _ in _COLUMNS])]
  lines.append(line(['-' * width for _, width, _ in _COLUMNS]))
  lines.extend(line([value(row) for _, _, value in _COLUMNS]) for row in rows)
  return '\n'.join(lines)


def paper_schedule():
  """The schedule tfrd builds for --preset=paper (appendix D.2)."""
  preset = pipeline_settings.PRESETS['paper']
  rd_betas = tfrd.rd_point_betas(
      preset['num_rd_points'], preset['beta_max'], beta_min=preset['beta_min'],
      spacing=preset['rd_spacing'])
  return tfrd.build_schedule(
      rd_betas, tfrd.sigmoid_betas(preset['num_intermediate'],
                                   preset['beta_max']),
      preset['min_before_first'], preset['min_between'])


def _hours(seconds):
  return f'{seconds / 3600:.2f} h ({seconds / 60:.1f} min)'


def paper_projection(row, matmul_gflops, device_tflops, chunk_overhead_us):
  """Projected wall times of the paper's MNIST run.

  Args:
    row: the `time_decoder` measurement of the deep decoder at the paper's
      sizes (40 chains × 50 images, L = 20).
    matmul_gflops: this process's matmul throughput.
    device_tflops: {'fp32': TFLOP/s, 'tf32': TFLOP/s} of the projected GPU.
    chunk_overhead_us: assumed per-chunk overhead on that GPU.

  Returns:
    A dict: per schedule length, the time here and on the device.
  """
  # pylint: disable=g-import-not-at-top
  from tfrd import ais
  from tfrd import randomness
  # pylint: enable=g-import-not-at-top
  preset = pipeline_settings.PRESETS['paper']
  schedule = paper_schedule()
  num_passes = tfrd.num_passes(preset['step_size_mode'])
  ratio = row['useful_gflops'] / matmul_gflops
  # Above 1 the reference was slowed by load (or the decoder's GEMMs beat a
  # square matmul); no device runs above its peak, so project at most at it.
  projected_ratio = min(ratio, 1.0)
  tfrd_chunks = int(ais.chunk_boundaries(schedule).size)
  num_rd_points = int(schedule.rd_indices.size)
  schedules = {
      'tfrd': (schedule.num_transitions, tfrd_chunks,
               'tfrd --preset=paper schedule (chunks counted exactly)'),
      'paper': (_PAPER_TRANSITIONS,
                math.ceil(_PAPER_TRANSITIONS / randomness.BLOCK_SIZE) +
                num_rd_points,
                'length the paper states (chunks: one per block of 32 '
                'plus one per RD point, an upper bound)'),
  }
  result = {
      'decoder': row['decoder'], 'num_chains': row['num_chains'],
      'num_images': row['num_images'], 'leapfrog_steps': row['leapfrog_steps'],
      'num_passes': num_passes, 'num_rd_points': num_rd_points,
      'measured_seconds_per_transition': row['seconds_per_transition'],
      'measured_transitions': row['num_transitions'],
      'flops_per_transition': row['flops_per_transition'],
      'ratio_of_matmul': ratio, 'projected_fraction_of_peak': projected_ratio,
      'device_tflops': dict(device_tflops),
      'chunk_overhead_us': chunk_overhead_us, 'schedules': {},
  }
  for key, (num_transitions, chunks, label) in schedules.items():
    total_transitions = num_transitions * num_passes
    total_flops = row['flops_per_transition'] * total_transitions
    overhead_s = chunks * num_passes * chunk_overhead_us * 1e-6
    device = {}
    for precision, tflops in device_tflops.items():
      compute_s = total_flops / (tflops * 1e12 * projected_ratio)
      device[precision] = {'compute_s': compute_s, 'overhead_s': overhead_s,
                           'total_s': compute_s + overhead_s}
    result['schedules'][key] = {
        'label': label, 'num_transitions': num_transitions,
        'num_chunks_per_pass': chunks, 'total_flops': total_flops,
        'this_machine_s': row['seconds_per_transition'] * total_transitions,
        'device_projection': device,
    }
  return result


def format_paper_projection(projection):
  """The projection as text, saying what it rests on."""
  p = projection
  fp32, tf32 = p['device_tflops']['fp32'], p['device_tflops']['tf32']
  header = [
      f"Paper's MNIST setting: {p['decoder']} decoder (code size 10), "
      f"{p['num_chains']} chains x {p['num_images']} images, "
      f"L = {p['leapfrog_steps']}, {p['num_passes']} passes "
      f"(preliminary + reported), {p['num_rd_points']} RD points.",
      f"Measured here: {p['measured_seconds_per_transition']:.4g} s per "
      f"transition (best of a short run of {p['measured_transitions']} "
      f"transition(s) at exactly these sizes); ratio_of_matmul "
      f"{p['ratio_of_matmul']:.3f}; "
      f"{p['flops_per_transition'] / 1e9:.1f} useful GFLOP per transition.",
  ]
  lines = ['']
  for paragraph in header:
    lines += textwrap.wrap(paragraph, 79)
  if p['ratio_of_matmul'] > 1:
    lines += textwrap.wrap(
        'ratio_of_matmul > 1: the matmul reference was slowed down (load '
        'from other processes?) or the decoder\'s GEMMs beat a square '
        'matmul; the GPU projection uses a fraction of peak of 1.', 79)
  for entry in p['schedules'].values():
    lines += [''] + textwrap.wrap(
        f"{entry['num_transitions']:,} transitions per pass: "
        f"{entry['label']}.", 79)
    lines.append(
        f"  this machine (measured s/transition x {entry['num_transitions']:,}"
        f" x {p['num_passes']}): {_hours(entry['this_machine_s'])}")
    for precision, tflops in (('fp32', fp32), ('tf32', tf32)):
      device = entry['device_projection'][precision]
      goal = device['total_s'] / (60.0 * _GOAL_MINUTES_H100)
      lines += [
          f'  PROJECTION, GPU at {tflops:g} TFLOP/s {precision.upper()}: '
          f"{_hours(device['total_s'])}, {goal:.2f}x the "
          f'{_GOAL_MINUTES_H100}-minute goal',
          f"    = compute {device['compute_s']:.0f} s + per-chunk overhead "
          f"{device['overhead_s']:.1f} s ({entry['num_chunks_per_pass']:,} "
          f"chunks x {p['num_passes']} passes x "
          f"{p['chunk_overhead_us']:g} us)"]
    implied = [entry['total_flops'] / (hours * 3600) / 1e12
               for hours in _PAPER_HOURS_P100]
    lines += textwrap.wrap(
        f'the paper\'s {_PAPER_HOURS_P100[0]}-{_PAPER_HOURS_P100[1]} h on '
        f'one P100 would mean {implied[1]:.1f}-{implied[0]:.1f} TFLOP/s of '
        'useful decoder work at this count', 79, initial_indent='  ',
        subsequent_indent='    ')
  notes = (
      'The GPU PROJECTION rests on: (1) the decoder\'s dense FLOPs only '
      '(forward + backward to the input, L per transition at batch 40 x 50; '
      'activations, distortion and chain arithmetic not counted); (2) the '
      'GPU reaching the same fraction of its peak as this machine reaches '
      'of its own matmul throughput (ratio_of_matmul, at most 1), and for '
      'TF32 the decoder\'s matmuls running in TF32; (3) per-chunk host '
      'round trips and launches costing --chunk_overhead_us each (a chunk '
      'holds at most 32 transitions); nothing else. The device figures are '
      'the ones given by --device_tflops_fp32 / --device_tflops_tf32 '
      '(defaults: published dense H100 SXM figures), not a measurement.',
      f'For comparison: the paper reports {_PAPER_HOURS_P100[0]}-'
      f'{_PAPER_HOURS_P100[1]} hours on one P100 for this setting; the '
      f'project goal is {_GOAL_MINUTES_H100} minutes on one H100.',
  )
  for note in notes:
    lines += [''] + textwrap.wrap(note, 79)
  return '\n'.join(lines)


def _machine():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return {'cpu_count': os.cpu_count(), 'platform': platform.platform(),
          'machine': platform.machine(), 'processor': platform.processor(),
          'python': platform.python_version(),
          'gpus': [device.name for device in
                   tf.config.list_physical_devices('GPU')]}


def run(settings):
  """Measures what `settings` ask for, prints the tables, writes the JSON.

  Args:
    settings: a `ThroughputSettings`.

  Returns:
    The JSON document (a dict).

  Raises:
    UsageError: if the MNIST file is missing or too short.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  paper = pipeline_settings.PRESETS['paper']
  num_images = settings.num_images
  if settings.paper_setting:
    num_images = max(num_images, paper['num_images'])
  images = load_mnist_test_images(num_images, settings.data_dir)

  _progress(f'matmul: {settings.matmul_size}x{settings.matmul_size} fp32, '
            f'graph and XLA, {settings.matmul_repetitions} timed call(s) each')
  matmul = MatmulBenchmark(settings.matmul_size)
  _progress(f'matmul: {matmul.measure(settings.matmul_repetitions):.2f} '
            'GFLOP/s')

  plan = TimingPlan(settings.num_transitions, settings.repetitions,
                    settings.max_repetition_s)
  rows = [time_decoder(name, images[:settings.num_images],
                       settings.num_chains, settings.leapfrog_steps, plan,
                       settings.step_size, settings.seed,
                       mass_matrix=settings.mass_matrix)
          for name in settings.decoders]
  for row in rows:
    if row['hessian_row_gradients'] is not None:
      _progress(f'{row["decoder"]}: one Hessian row costs '
                f'{row["hessian_row_gradients"]:.2f} bare decoder gradients '
                f'(an anchor took {row["hessian_seconds"]:.3f} s)')
  deep = None
  if settings.paper_setting:
    sizes = (paper['num_chains'], paper['num_images'], paper['leapfrog_steps'])
    reusable = [row for row in rows if row['decoder'] == 'deep' and (
        row['num_chains'], row['num_images'], row['leapfrog_steps']) == sizes]
    if reusable:
      deep = reusable[0]
    else:
      _progress(f'paper setting: deep decoder, {sizes[0]} chains x '
                f'{sizes[1]} images, L = {sizes[2]}, '
                f'{settings.paper_transitions} timed transition(s)')
      deep = time_decoder('deep', images[:paper['num_images']], sizes[0],
                          sizes[2],
                          TimingPlan(settings.paper_transitions,
                                     settings.paper_repetitions,
                                     bare_gradient=False),
                          settings.step_size, settings.seed)

  # Again after the decoders, so that the reference is the best of two
  # sessions far apart in time.
  _progress(f'matmul: {matmul.measure(settings.matmul_repetitions):.2f} '
            'GFLOP/s (best of both sessions)')
  for row in rows + ([deep] if deep is not None else []):
    row['matmul_gflops'] = matmul.gflops
    row['ratio_of_matmul'] = row['useful_gflops'] / matmul.gflops

  timing = (f'best of {settings.repetitions} repetitions of T transitions '
            f'(T = {settings.num_transitions} unless --max_repetition_s cut '
            'it); compile (warm-up chunk) excluded')
  if rows:
    print(f'AIS throughput, {timing}; squared error, first '
          f'{settings.num_images} MNIST test images, {settings.num_chains} '
          'chains each.')
    print(format_table(rows))
  document = {
      'benchmark': _PROGRAM,
      'timestamp': datetime.datetime.now(datetime.timezone.utc).isoformat(),
      'tensorflow': tf.__version__,
      'machine': _machine(),
      'settings': settings.values((
          'decoders', 'num_chains', 'num_images', 'leapfrog_steps',
          'num_transitions', 'max_repetition_s', 'repetitions', 'step_size',
          'seed', 'matmul_size', 'matmul_repetitions', 'paper_setting')),
      'timing': timing,
      'matmul': matmul.to_json(),
      'results': rows,
  }
  if deep is not None:
    projection = paper_projection(
        deep, matmul.gflops,
        {'fp32': settings.device_tflops_fp32,
         'tf32': settings.device_tflops_tf32},
        settings.chunk_overhead_us)
    print(format_paper_projection(projection))
    document['paper_setting'] = projection
    document['paper_measurement'] = deep
    document['settings'].update(settings.values((
        'paper_transitions', 'paper_repetitions', 'device_tflops_fp32',
        'device_tflops_tf32', 'chunk_overhead_us')))

  if settings.json:
    os.makedirs(os.path.dirname(os.path.abspath(settings.json)),
                exist_ok=True)
    with files.atomic_write(settings.json) as stream:
      json.dump(document, stream, indent=1)
    _progress(f'wrote {settings.json}')
  return document


def main(argv):
  del argv  # jobs.run refused stray arguments.
  return jobs.run_job(_PROGRAM, lambda: run(settings_from_flags()),
                      (UsageError,))


if __name__ == '__main__':
  jobs.run(main)
