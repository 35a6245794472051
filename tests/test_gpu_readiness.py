"""GPU readiness, checked without a GPU.

A chunk of AIS transitions must be one device computation: the transition
loop, its decoder calls and its random draws compiled together, with no host
callback and nothing crossing to the host per transition. The random numbers
must be a function of (seed, image, transition, chain, dimension) only,
identical under XLA, in graph mode and eagerly, and good random numbers.

Oracles: TF's own Philox and the known answers of Salmon et al. (2011); the
HLO text of the compiled chunk; eager op executions seen by TF's op
callbacks; exact float64 log and cos; distribution checks with fixed
thresholds (each false alarm has probability about 1e-6).
"""

# pylint: disable=protected-access

import collections
import re
import statistics

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import op_callbacks  # pylint: disable=g-direct-tensorflow-import

import tfrd
from tfrd import ais
from tfrd import hmc
from tfrd import randomness
from tfrd import target as target_lib

NUM_IMAGES, NUM_CHAINS, LATENT_DIM, DATA_DIM = 2, 4, 3, 24
NUM_ROWS = NUM_IMAGES * NUM_CHAINS
SEED = 7
# Chi-square thresholds with false-alarm probability about 1e-6
# (Wilson–Hilferty) for 63 and 255 degrees of freedom.
CHI2_63, CHI2_255 = 132.0, 377.0
# |z-score| tolerated for a moment or a correlation.
Z_TOLERANCE = 5.0


def _mlp(dtype='float32'):
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)
  return keras.Sequential([
      keras.Input((LATENT_DIM,), dtype=dtype),
      keras.layers.Dense(16, activation='tanh', dtype=dtype),
      keras.layers.Dense(DATA_DIM, activation='sigmoid', dtype=dtype)])


@pytest.fixture(scope='module')
def problem():
  data = np.random.default_rng(0).uniform(
      size=(NUM_IMAGES, DATA_DIM)).astype(np.float32)
  target = target_lib.AnnealedTarget(
      _mlp(), target_lib.standard_normal_prior(LATENT_DIM),
      tfrd.SquaredError(), data, NUM_CHAINS)
  return data, target


def _runner_and_state(target, jit_compile):
  runner = ais.TransitionRunner(target, hmc.HMCSettings(num_leapfrog_steps=2),
                                jit_compile)
  latents = tf.constant(
      np.random.default_rng(1).normal(size=(NUM_ROWS, LATENT_DIM)))
  state = ais.ChainState(latents, runner.evaluate(latents),
                         tf.zeros([NUM_ROWS], tf.float64),
                         tf.fill([NUM_ROWS], tf.constant(0.2, tf.float64)),
                         tf.constant(0.0, tf.float64))
  return runner, state


def _noise(image_indices, transitions, num_chains=NUM_CHAINS,
           latent_dim=LATENT_DIM, seed=SEED):
  momentum, log_uniform = randomness.transition_noise(
      randomness.noise_keys(seed), np.asarray(image_indices, np.int64),
      tf.constant(transitions, tf.int64), num_chains, latent_dim)
  return momentum.numpy(), log_uniform.numpy()


# --- The generator. ---


def test_philox_matches_known_answers_and_tf():
  # Known answers of Random123 (Salmon et al., 2011) for Philox-4x32-10.
  known = [
      ([0, 0, 0, 0], [0, 0],
       [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
      ([0xffffffff] * 4, [0xffffffff] * 2,
       [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
      ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
       [0xa4093822, 0x299f31d0],
       [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
  ]
  for counter, key, expected in known:
    words = randomness.philox4x32([tf.constant(c, tf.int64) for c in counter],
                                  [tf.constant(k, tf.int64) for k in key])
    assert [int(w) for w in words] == expected
  # TF's own Philox (its stateless ops' generator), on random counters.
  rng = np.random.default_rng(3)
  counters = rng.integers(0, 2**32, size=(4, 20))
  keys = rng.integers(0, 2**32, size=(2, 20))
  words = np.stack([w.numpy() for w in randomness.philox4x32(
      [tf.constant(c) for c in counters], [tf.constant(k) for k in keys])])
  for i in range(20):
    c, k = [int(v) for v in counters[:, i]], [int(v) for v in keys[:, i]]
    reference = tf.raw_ops.StatelessRandomUniformFullIntV2(
        shape=[4], key=tf.constant([k[0] | k[1] << 32], tf.uint64),
        counter=tf.constant([c[0] | c[1] << 32, c[2] | c[3] << 32],
                            tf.uint64), alg=1, dtype=tf.uint32)
    np.testing.assert_array_equal(words[:, i], reference.numpy())


def test_fixed_point_log_and_cos_are_accurate():
  rng = np.random.default_rng(4)
  edges = [0, 1, 2, 2**50 - 1, 2**50, 2**51, 2**51 + 1, 2**52 - 1, 2**52,
           2**52 + 1, 3 * 2**51, 2**53 - 2, 2**53 - 1]
  bits = np.concatenate([rng.integers(0, 2**53, 100000), edges]).astype(
      np.int64)
  neg_log = randomness._neg_log_q55(tf.constant(bits)).numpy() * 2.0**-55
  exact_neg_log = -np.log((bits + 1.0) / 2.0**53)  # bits + 1 <= 2**53: exact
  # float64 log itself is within an ulp: 7e-15 at 36.7 = 53 log 2.
  np.testing.assert_allclose(neg_log, exact_neg_log, rtol=2e-16, atol=2e-16)
  cos = randomness._cos_two_pi(tf.constant(bits)).numpy() * 2.0**-60
  # 2π·v in float64 carries up to 7e-16 of its own error.
  np.testing.assert_allclose(cos, np.cos(2 * np.pi * (bits / 2.0**53)),
                             rtol=0, atol=1e-15)


def test_noise_is_box_muller_on_philox_words():
  num_images, num_chains, latent_dim, transition = 6, 8, 5, 70
  momentum, log_uniform = _noise(np.arange(num_images), transition,
                                 num_chains, latent_dim)
  keys = randomness.noise_keys(SEED)
  shape = (num_images, num_chains, latent_dim + 1)
  image, chain, column = np.meshgrid(np.arange(num_images),
                                     np.arange(num_chains),
                                     np.arange(latent_dim + 1), indexing='ij')
  # Columns 0..D-1: the momentum's coordinates, under the momentum key;
  # column D: the acceptance uniform, counter word 0, under its own key.
  key = np.where(column < latent_dim, keys[0], keys[1])
  words = randomness.philox4x32(
      [tf.constant(np.where(column < latent_dim, column, 0)),
       tf.constant(chain), tf.constant(np.full(shape, transition)),
       tf.constant(image)],
      [tf.constant(key & 0xFFFFFFFF), tf.constant(key >> 32)])
  w0, w1, w2, w3 = (w.numpy().astype(np.uint64) for w in words)
  bits53 = lambda high, low: (high << np.uint64(21)) | (low >> np.uint64(11))
  u1 = (bits53(w0, w1).astype(np.float64) + 1) / 2.0**53
  u2 = bits53(w2, w3).astype(np.float64) / 2.0**53
  np.testing.assert_allclose(log_uniform, np.log(u1[..., -1]), rtol=2e-16,
                             atol=1e-15)
  box_muller = np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)
  np.testing.assert_allclose(momentum, box_muller[..., :-1], rtol=0,
                             atol=1e-14)
  # Exact multiples of 2**-49: nothing left for a later FMA to round.
  np.testing.assert_array_equal(momentum * 2.0**49,
                                np.round(momentum * 2.0**49))


def _chi_square(counts):
  expected = counts.sum() / counts.size
  return float(np.sum((counts - expected)**2 / expected))


def _uniform_chi_square(uniforms, bins=64):
  return _chi_square(np.bincount(
      np.minimum((uniforms * bins).astype(int), bins - 1), minlength=bins))


def _normal_chi_square(normals, bins=64):
  edges = [statistics.NormalDist().inv_cdf(k / bins) for k in range(1, bins)]
  return _chi_square(np.bincount(np.searchsorted(edges, normals),
                                 minlength=bins))


def _serial_chi_square(first, second, bins=16):
  cells = (np.minimum((first * bins).astype(int), bins - 1) * bins +
           np.minimum((second * bins).astype(int), bins - 1))
  return _chi_square(np.bincount(cells, minlength=bins * bins))


def _distribution_statistics(momentum, log_uniform):
  """The checks' statistics on noise [N, T, C, D] and [N, T, C]."""
  normals = momentum.ravel()
  uniforms = np.exp(log_uniform)
  count = normals.size
  moments = {
      'mean': np.mean(normals) / np.sqrt(1 / count),
      'variance': (np.var(normals) - 1) / np.sqrt(2 / count),
      'skewness': np.mean(normals**3) / np.sqrt(15 / count),
      'kurtosis': (np.mean(normals**4) - 3) / np.sqrt(96 / count),
      'uniform mean': ((np.mean(uniforms) - 0.5) /
                       np.sqrt(1 / 12 / uniforms.size)),
  }
  chi_squares = {
      'normal': (_normal_chi_square(normals), CHI2_63),
      'uniform': (_uniform_chi_square(uniforms.ravel()), CHI2_63),
      # Pairs of neighbouring transitions of one chain, and of neighbouring
      # dimensions of one momentum (through the normal CDF).
      'serial uniform': (_serial_chi_square(uniforms[:, :-1].ravel(),
                                            uniforms[:, 1:].ravel()),
                         CHI2_255),
  }
  return moments, chi_squares


def test_normals_and_uniforms_pass_distribution_checks(monkeypatch):
  # 64 images, 32 transitions, 16 chains: 131072 normals and 32768 uniforms.
  momentum, log_uniform = _noise(np.arange(64), np.arange(32), num_chains=16,
                                 latent_dim=4)
  assert momentum.shape == (64, 32, 16, 4) and log_uniform.shape == (64, 32, 16)
  assert np.all(log_uniform <= 0.0) and np.all(np.isfinite(log_uniform))
  moments, chi_squares = _distribution_statistics(momentum, log_uniform)
  for name, z in moments.items():
    assert abs(z) < Z_TOLERANCE, (name, z)
  for name, (value, threshold) in chi_squares.items():
    assert value < threshold, (name, value)
  # The checks have teeth: Philox cut to one round fails them.
  monkeypatch.setattr(randomness, '_PHILOX_ROUNDS', 1)
  moments, chi_squares = _distribution_statistics(
      *_noise(np.arange(64), np.arange(32), num_chains=16, latent_dim=4))
  assert any(value > threshold for value, threshold in chi_squares.values())


def _correlation_z(first, second):
  """|correlation|·√n: about |N(0, 1)| for independent samples."""
  return abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) * np.sqrt(
      first.size)


def test_numbers_are_independent_across_images_chains_positions_dims():
  momentum, log_uniform = _noise(np.arange(64), np.arange(32), num_chains=16,
                                 latent_dim=4)
  uniforms = np.exp(log_uniform)
  pairs = {
      'images': (momentum[:-1], momentum[1:]),
      'transitions': (momentum[:, :-1], momentum[:, 1:]),
      'chains': (momentum[:, :, :-1], momentum[:, :, 1:]),
      'dimensions': (momentum[..., :-1], momentum[..., 1:]),
      'momentum and acceptance': (momentum[..., 0], uniforms),
      'uniform images': (uniforms[:-1], uniforms[1:]),
      'uniform chains': (uniforms[:, :, :-1], uniforms[:, :, 1:]),
      # Squares catch dependence that leaves the correlation at zero.
      'squared dimensions': (momentum[..., :-1]**2, momentum[..., 1:]**2),
  }
  for name, (first, second) in pairs.items():
    z = _correlation_z(first, second)
    assert z < Z_TOLERANCE, (name, z)


# --- The invariant: a function of (seed, image, transition, chain, dim). ---


def test_noise_is_per_image():
  batch = _noise([5, 9, 2], 40)
  alone = _noise([9], 40)
  for in_batch, by_itself in zip(batch, alone):
    np.testing.assert_array_equal(in_batch[1], by_itself[0])
  momentum, log_uniform = batch
  # Different images, chains, transitions, seeds and dimensions differ.
  assert not np.any(momentum[0] == momentum[1])
  assert not np.any(momentum[:, 0] == momentum[:, 1])
  assert not np.any(momentum[..., 0] == momentum[..., 1])
  assert not np.any(log_uniform[0] == log_uniform[1])
  assert not np.any(momentum == _noise([5, 9, 2], 41)[0])
  assert not np.any(momentum == _noise([5, 9, 2], 40, seed=SEED + 1)[0])
  # More chains or dimensions extend the numbers, they do not reshuffle them.
  wider = _noise([5, 9, 2], 40, num_chains=NUM_CHAINS + 3,
                 latent_dim=LATENT_DIM + 2)
  np.testing.assert_array_equal(wider[0][:, :NUM_CHAINS, :LATENT_DIM],
                                momentum)
  np.testing.assert_array_equal(wider[1][:, :NUM_CHAINS], log_uniform)


def test_noise_is_identical_under_xla_graph_and_eager():
  # Includes indices beyond 32 bits, whose high word goes into the key.
  images = np.array([0, 3, 2**32 + 3, 2**40 + 1], np.int64)
  keys = randomness.noise_keys(SEED)

  def draw(image_indices, transitions):
    return randomness.transition_noise(keys, image_indices, transitions, 5, 7)

  arguments = (tf.constant(images), tf.constant([0, 31, 2**32 + 31], tf.int64))
  eager = draw(*arguments)
  for jit_compile in (True, False):
    compiled = tf.function(draw, jit_compile=jit_compile)(*arguments)
    for expected, actual in zip(eager, compiled):
      np.testing.assert_array_equal(actual.numpy(), expected.numpy())
  momentum = eager[0].numpy()
  assert not np.any(momentum[1] == momentum[2])  # image 3 vs 2**32 + 3
  assert not np.any(momentum[:, 1] == momentum[:, 2])  # 31 vs 2**32 + 31
  # A scalar transition is the vector's slice.
  single = draw(tf.constant(images), tf.constant(31, tf.int64))
  np.testing.assert_array_equal(single[0].numpy(), momentum[:, 1])


def test_block_noise_is_transition_noise():
  block = 3
  momentum, log_uniform = randomness.draw_block_noise(
      SEED, block, [4, 1], NUM_CHAINS, LATENT_DIM)
  assert momentum.shape == (2, randomness.BLOCK_SIZE, NUM_CHAINS, LATENT_DIM)
  for offset in (0, 17, randomness.BLOCK_SIZE - 1):
    expected = _noise([4, 1], block * randomness.BLOCK_SIZE + offset)
    np.testing.assert_array_equal(momentum.numpy()[:, offset], expected[0])
    np.testing.assert_array_equal(log_uniform.numpy()[:, offset], expected[1])


@pytest.mark.parametrize('jit_compile', [True, False])
def test_chunking_does_not_change_the_chain(problem, jit_compile):
  _, target = problem
  runner, state = _runner_and_state(target, jit_compile)
  betas = np.linspace(0.05, 0.8, 8)
  images = np.arange(NUM_IMAGES)
  whole, _, _ = runner.run_chunk(state, betas, SEED, 33, images)
  first, _, _ = runner.run_chunk(state, betas[:3], SEED, 33, images)
  split, _, _ = runner.run_chunk(first, betas[3:], SEED, 36, images)
  for a, b in zip(tf.nest.flatten(whole), tf.nest.flatten(split)):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.slow  # two float64 runs, more than 5 s
def test_xla_and_graph_runs_agree():
  # A float64 decoder: XLA and TF's kernels then differ only in the last
  # bits of the HMC arithmetic (XLA contracts a·b + c into FMAs), while
  # different random numbers would change the curve in its leading digits.
  data = np.random.default_rng(0).uniform(size=(3, DATA_DIM))
  schedule = tfrd.build_schedule(
      tfrd.rd_point_betas(3, 10.0, beta_min=0.1), tfrd.sigmoid_betas(80, 10.0),
      min_before_first=20, min_between=5)
  runs = [tfrd.run_ais(_mlp('float64'), data, tfrd.SquaredError(), schedule,
                       latent_dim=LATENT_DIM,
                       chains=tfrd.ChainSettings(
                           num_chains=8, seed=1, jit_compile=jit_compile,
                           decoder_dtype=tf.float64))
          for jit_compile in (True, False)]
  assert runs[0].jit_compiled and not runs[1].jit_compiled
  for xla, graph in zip(runs[0].estimates, runs[1].estimates):
    for name in ('rate', 'distortion', 'log_z'):
      np.testing.assert_allclose(getattr(xla, name), getattr(graph, name),
                                 rtol=1e-9, atol=1e-9)
  np.testing.assert_allclose(runs[0].step_size_table, runs[1].step_size_table,
                             rtol=1e-9)
  np.testing.assert_allclose(runs[0].latents, runs[1].latents, rtol=1e-9)


# --- One computation per chunk, on the device. ---


def _hlo_computations(hlo):
  """{name: instruction lines} of an HLO module, and the entry's name."""
  computations, entry, name = {}, None, None
  for line in hlo.splitlines():
    header = re.match(r'^(ENTRY )?%?([\w.\-]+) .*\{$', line)
    if name is None and header:
      name = header.group(2)
      computations[name] = []
      if header.group(1):
        entry = name
    elif name is not None and line == '}':
      name = None
    elif name is not None:
      computations[name].append(line)
  return computations, entry


def _callees(lines):
  text = '\n'.join(lines)
  names = re.findall(r'(?:body|condition|to_apply|calls|true_computation|'
                     r'false_computation)=%?([\w.\-]+)', text)
  for group in re.findall(r'branch_computations=\{([^}]*)\}', text):
    names += [n.strip().lstrip('%') for n in group.split(',')]
  return names


def _reachable(computations, roots):
  seen, stack = set(), list(roots)
  while stack:
    name = stack.pop()
    if name not in seen:
      seen.add(name)
      stack.extend(_callees(computations[name]))
  return seen


def _count(computations, names, pattern):
  return sum(len(re.findall(pattern, line))
             for name in names for line in computations[name])


@pytest.mark.parametrize('adapt', [False, True])
def test_chunk_is_one_xla_computation_without_host_callbacks(problem, adapt):
  # Frozen, and adapting: the step-size kernel (tfrd.kernel) is in the loop.
  _, target = problem
  runner, state = _runner_and_state(target, jit_compile=True)
  hlo = runner.compiler_ir(state, np.linspace(0.1, 1.0, 5), SEED, 1,
                           np.arange(NUM_IMAGES), adapt=adapt)
  computations, entry = _hlo_computations(hlo)
  entry_whiles = [line for line in computations[entry] if ' while(' in line]
  assert len(entry_whiles) == 1, entry_whiles
  body = re.search(r'body=%?([\w.\-]+)', entry_whiles[0]).group(1)
  condition = re.search(r'condition=%?([\w.\-]+)', entry_whiles[0]).group(1)
  loop = _reachable(computations, [body, condition])
  outside = set(computations) - loop
  # The decoder's forward and backward passes (two dense layers each way)
  # run inside the transition loop, and nowhere else.
  assert _count(computations, loop, r' dot\(') >= 4
  assert _count(computations, outside, r' dot\(') == 0
  # So does the random draw: Philox's multipliers, the log's division, the
  # Box–Muller square root.
  for multiplier in (0xD2511F53, 0xCD9E8D57):
    pattern = rf'u64\[\] constant\({multiplier}\)'
    assert _count(computations, loop, pattern) >= 1, pattern
    assert _count(computations, outside, pattern) == 0, pattern
  for opcode in ('sqrt', 'divide'):
    assert _count(computations, loop, rf'f64\[[\d,]*\]\S* {opcode}\(') >= 1
  # Nothing leaves the device mid-chunk, and no XLA RNG (whose numbers
  # would differ from graph mode's).
  host = re.compile(r'\b(custom-call|send|send-done|recv|recv-done|outfeed|'
                    r'infeed|rng|rng-bit-generator|rng-get-and-update-state)\(')
  assert not host.findall(hlo)
  # The arguments carry the chain state and a few scalars, no noise: the
  # only float64 matrices [N·C, D] are the latents and their two gradients.
  parameters = re.findall(r'(\w+)\[([\d,]*)\][^ ]* parameter\(',
                          '\n'.join(computations[entry]))
  shapes = [(dtype, tuple(int(d) for d in dims.split(',') if d))
            for dtype, dims in parameters]
  assert all(len(shape) <= 3 for _, shape in shapes), shapes
  assert shapes.count(('f64', (NUM_ROWS, LATENT_DIM))) == 3, shapes


def _eager_ops():
  """Counts eager op executions (tf.function calls included) by op type."""
  counts = collections.Counter()
  outputs = []

  def callback(op_type, inputs, attrs, results, op_name=None, graph=None):
    del inputs, attrs, op_name
    if graph is None:
      counts[op_type] += 1
      outputs.append(results)

  return counts, outputs, callback


@pytest.mark.parametrize('jit_compile', [True, False])
def test_one_host_call_per_chunk_and_none_per_transition(problem, jit_compile):
  _, target = problem
  runner, state = _runner_and_state(target, jit_compile)
  images = np.arange(NUM_IMAGES)
  runner.run_chunk(state, [0.1], SEED, 1, images)  # traces
  for num_steps in (1, randomness.BLOCK_SIZE):
    counts, outputs, callback = _eager_ops()
    op_callbacks.add_op_callback(callback)
    try:
      result = runner.run_chunk(state, np.linspace(0.05, 1.0, num_steps),
                                SEED, 1, images)
    finally:
      op_callbacks.remove_op_callback(callback)
    # One eager op: the call of the compiled chunk function, however many
    # transitions it runs; everything else happens inside it.
    assert sum(counts.values()) == 1, counts
    (op_type,) = counts
    assert 'run_chunk' in op_type
    # What comes back is the chunk's result and nothing else.
    assert len(outputs[0]) == len(tf.nest.flatten(result)) == 10
    for returned, expected in zip(outputs[0], tf.nest.flatten(result)):
      assert returned.shape == expected.shape


@pytest.mark.slow  # more than 5 s
def test_run_ais_calls_the_compiled_chunk_once_per_chunk(problem,
                                                         monkeypatch):
  data, _ = problem
  calls = collections.Counter()

  def counting(function, name):
    def wrapper(*args, **kwargs):
      calls[name] += 1
      return function(*args, **kwargs)
    return wrapper

  make_chunk_fn = ais._make_chunk_fn
  monkeypatch.setattr(ais, '_make_chunk_fn', lambda *args, **kwargs: counting(
      make_chunk_fn(*args, **kwargs), 'chunk'))
  # Python runs these only while tracing the chunk function.
  monkeypatch.setattr(hmc, 'hmc_transition',
                      counting(hmc.hmc_transition, 'transition'))
  monkeypatch.setattr(randomness, 'transition_noise',
                      counting(randomness.transition_noise, 'noise'))
  betas = np.linspace(0.0, 2.0, 31)
  schedule = tfrd.AnnealingSchedule(betas, [8, 20, 30])  # 3 chunks a pass
  assert ais.chunk_boundaries(schedule).size == 3
  run = tfrd.run_ais(_mlp(), data, tfrd.SquaredError(), schedule,
                     latent_dim=LATENT_DIM,
                     chains=tfrd.ChainSettings(num_chains=NUM_CHAINS,
                                               seed=SEED))
  assert run.jit_compiled
  num_passes = tfrd.num_passes('two_pass')
  assert calls['chunk'] == 3 * num_passes
  # One trace per compiled function (adapting and frozen), not one call per
  # transition (60) or per chunk (6).
  assert calls['transition'] == calls['noise'] == 2


def test_graph_mode_draws_inside_the_function(problem):
  _, target = problem
  runner, state = _runner_and_state(target, jit_compile=False)
  arguments = runner._arguments(state, [0.1, 0.2], SEED, 1,
                                np.arange(NUM_IMAGES))
  concrete = runner._chunk_fn(False).get_concrete_function(*arguments)
  graph_def = concrete.graph.as_graph_def()
  nodes = list(graph_def.node)
  for function in graph_def.library.function:
    nodes += list(function.node_def)
  op_types = collections.Counter(node.op for node in nodes)
  assert not [op for op in op_types if 'Random' in op or op == 'MapFn'], (
      op_types)
  unsigned_products = [node for node in nodes if node.op == 'Mul' and
                       node.attr['T'].type == tf.uint64.as_datatype_enum]
  assert len(unsigned_products) >= 20  # Philox: 2 products a round
  # No noise among the function's inputs: the state, the padded betas, the
  # keys, the first transition, the images and the step count (plus the
  # decoder's captured weights and data).
  float64_inputs = [t for t in concrete.inputs if t.dtype == tf.float64]
  assert sum(t.shape.rank >= 3 for t in concrete.inputs) <= 1  # the data
  assert sum(tuple(t.shape) == (NUM_ROWS, LATENT_DIM)
             for t in float64_inputs) == 3
