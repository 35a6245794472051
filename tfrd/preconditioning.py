"""A per-image HMC mass matrix from the distortion's Hessian, for deep decoders.

Why it exists: at high β the annealed target q_β(z|x) ∝ p(z) exp(-β d(x, f(z)))
of a deep decoder is narrow along the directions the decoder uses (a
standard deviation of about 1/sqrt(β λ) along a Hessian eigenvalue λ of d)
and as wide as the prior along the rest. HMC with an identity mass matrix
must step at the scale of the narrowest direction and random-walks along
all the others, so the chains lag behind the moving target and the AIS gap
grows with the code size and β (docs/accuracy.md). A mass matrix equal to
the target's precision makes it isotropic.

The mass matrix: for image n and inverse temperature β,

    M_β = V diag(1 + β λ⁺) V^T,     V diag(λ) V^T = H̄_n,

where H̄_n is the mean over a few of the image's chains (`HESSIAN_CHAINS`)
of the Hessian of d(x_n, f(z)) with respect to z, and λ⁺ = max(λ, 0). For
a standard normal prior, a linear decoder and squared error, M_β is
exactly the precision of q_β (I + 2β WᵀW), and HMC then samples an isotropic
Gaussian. For a nonlinear decoder it is the Laplace approximation's
precision at the chains' states (clipped to stay positive definite); any
positive definite M leaves q_β invariant, so this choice can only change how
fast the chains mix, never what they sample. The whole of β's effect is in
the formula, so H̄ need only be measured again when the chains have moved:
at most `MAX_ANCHORS` *anchors*, geometrically spaced in β along the
schedule (`anchor_chunks`).

Where it is measured: the preliminary pass of a two-pass run (appendix
D.2) measures H̄ at the end of each anchor chunk and uses it from the next
chunk on; the reported pass replays that table frozen, as it replays the
step sizes, so its transitions do not depend on its own chains' past and
its log Ẑ stays a proper AIS bound. BDMC's reverse run replays the forward
run's table mirrored, transition for transition, as it does the step sizes.

Why not TFP's `PreconditionedHamiltonianMonteCarlo` with
`DiagonalMassMatrixAdaptation`: a diagonal matrix cannot follow a deep
decoder's narrow directions, which are not aligned with the latent axes,
and its running-variance estimate needs the chain to have mixed in the very
directions where it mixes slowest. tfrd's transition also keeps its
per-image noise streams and its cached distortion (`tfrd.hmc`).

The transition works in each image's eigenbasis: the momentum is
p = V (sqrt(s) ⊙ ξ) with ξ the standard normal draw of `tfrd.randomness`
and s = 1 + β λ⁺, the velocity is M⁻¹p = V ((Vᵀp) / s) and the kinetic
energy ½ Σ (Vᵀp)² / s. With V = I and λ = 0 these are p = ξ, M⁻¹p = p and
½|p|²: plain HMC.

Cost invariant: a transition still costs exactly L decoder gradients (the
mass matrix adds two D×D matrix products per leapfrog step and chain). One
anchor costs `HESSIAN_CHAINS` × D Hessian rows per image, each a
Hessian-vector product, counted as `HESSIAN_ROW_GRADIENTS` decoder
gradients (`hessian_gradients_per_image`). `tests/test_preconditioning.py`
checks the Hessian against the closed form of a linear decoder, the mass
matrix against the exact posterior precision, the moments HMC samples with
it, identity behaviour, that the reported pass replays the preliminary
pass's table, and that AIS with it is exact on the linear decoder.
"""

import collections

import numpy as np
import tensorflow as tf

__all__ = ['MAX_ANCHORS', 'HESSIAN_CHAINS', 'HESSIAN_ROW_GRADIENTS',
           'MassMatrixTable', 'anchor_chunks', 'chunk_rows', 'momentum',
           'velocity', 'kinetic_energy', 'mean_distortion_hessian',
           'eigen_table_row', 'hessian_gradients_per_image']

# Anchors (Hessian measurements) along a schedule at most: 16 per image keeps
# the table of 20 images of a 100-d code at 26 MB.
MAX_ANCHORS = 16

# Chains of each image whose Hessians are averaged at an anchor.
HESSIAN_CHAINS = 4

# Decoder gradients one Hessian row (a reverse-over-reverse Hessian-vector
# product: a forward pass, its backward pass and the backward pass of that)
# is counted as.
HESSIAN_ROW_GRADIENTS = 2


class MassMatrixTable(
    collections.namedtuple('MassMatrixTable',
                           ['eigenvectors', 'eigenvalues', 'chunk_rows'])):
  """The per-image mass matrices a preliminary pass measured.

  Row 0 is the identity (V = I, λ = 0), used before the first anchor; row
  k > 0 is the k-th anchor's.

  Attributes:
    eigenvectors: float64 [K + 1, N, D, D], V per row and image (columns
      are eigenvectors).
    eigenvalues: float64 [K + 1, N, D], λ⁺ ≥ 0 per row and image.
    chunk_rows: int64 [num_chunks], the row each chunk of the schedule uses.
  """
  __slots__ = ()

  def row_tensors(self):
    """[(V [N, D, D], λ [N, D])] float64 tensors, one pair per row.

    Made once per table, not per chunk: a chunk takes
    `row_tensors()[chunk_rows[chunk]]`, with no copy to the device.
    """
    return [(tf.constant(vectors), tf.constant(values))
            for vectors, values in zip(self.eigenvectors, self.eigenvalues)]


def anchor_chunks(chunk_end_betas, max_anchors=None):
  """The chunks at whose end the preliminary pass measures H̄.

  Geometrically spaced in β from the first chunk's end to the last's: the
  first chunk whose end β reaches each of `max_anchors` targets
  β_first · r^k, r = (β_last / β_first)^(1 / max_anchors). The last chunk
  is never an anchor (no transition follows it).

  Args:
    chunk_end_betas: float [num_chunks], β at the end of each chunk
      (increasing).
    max_anchors: anchors at most (`MAX_ANCHORS` if None).

  Returns:
    int64 array of distinct, increasing chunk indices.
  """
  max_anchors = MAX_ANCHORS if max_anchors is None else int(max_anchors)
  betas = np.asarray(chunk_end_betas, dtype=np.float64)
  if betas.size < 2 or max_anchors < 1:
    return np.zeros([0], np.int64)
  first, last = betas[0], betas[-1]
  targets = first * (last / first) ** (np.arange(max_anchors) / max_anchors)
  chunks = np.searchsorted(betas, targets * (1 - 1e-12), side='left')
  chunks = np.unique(chunks[chunks < betas.size - 1])
  return chunks.astype(np.int64)


def chunk_rows(num_chunks, anchors):
  """The table row of each chunk: how many anchors end before it begins."""
  return np.searchsorted(np.asarray(anchors), np.arange(num_chunks),
                         side='left').astype(np.int64)


def _eigen_coordinates(eigenvectors, vectors):
  """Vᵀx per image: vectors [N·C, D] -> [N, C, D]."""
  num_images, latent_dim = eigenvectors.shape[0], eigenvectors.shape[-1]
  return tf.matmul(tf.reshape(vectors, [num_images, -1, latent_dim]),
                   eigenvectors)


def _from_eigen_coordinates(eigenvectors, coordinates):
  """V y per image: coordinates [N, C, D] -> [N·C, D]."""
  return tf.reshape(tf.matmul(coordinates, eigenvectors, transpose_b=True),
                    [-1, eigenvectors.shape[-1]])


def _scales(eigenvalues, beta):
  """s = 1 + β λ⁺ as [N, 1, D]."""
  return (1.0 + tf.cast(beta, eigenvalues.dtype) * eigenvalues)[:, tf.newaxis]


def momentum(metric, beta, noise):
  """p = V (sqrt(s) ⊙ ξ) ~ N(0, M_β) from standard normal draws ξ [N·C, D]."""
  eigenvectors, eigenvalues = metric
  scaled = tf.reshape(noise, [eigenvectors.shape[0], -1, noise.shape[-1]]) * (
      tf.sqrt(_scales(eigenvalues, beta)))
  return _from_eigen_coordinates(eigenvectors, scaled)


def velocity(metric, beta, momenta):
  """M_β⁻¹ p [N·C, D]."""
  eigenvectors, eigenvalues = metric
  return _from_eigen_coordinates(
      eigenvectors,
      _eigen_coordinates(eigenvectors, momenta) / _scales(eigenvalues, beta))


def kinetic_energy(metric, beta, momenta):
  """½ pᵀ M_β⁻¹ p [N·C]."""
  eigenvectors, eigenvalues = metric
  coordinates = _eigen_coordinates(eigenvectors, momenta)
  return tf.reshape(
      0.5 * tf.reduce_sum(tf.square(coordinates) / _scales(eigenvalues, beta),
                          axis=-1), [-1])


def mean_distortion_hessian(distortion_of, latents, num_images):
  """Mean over each image's rows of the Hessian of d(x, f(z)) w.r.t. z.

  Args:
    distortion_of: callable latents [N·k, D] float64 -> d [N·k] (row i's
      distortion depends on row i alone).
    latents: [N·k, D] float64, image-major.
    num_images: N.

  Returns:
    float64 [N, D, D], symmetrized.
  """
  with tf.GradientTape() as outer:
    outer.watch(latents)
    with tf.GradientTape() as inner:
      inner.watch(latents)
      total = tf.reduce_sum(distortion_of(latents))
    gradient = inner.gradient(total, latents)
  hessians = outer.batch_jacobian(gradient, latents)
  latent_dim = latents.shape[-1]
  hessians = tf.reduce_mean(
      tf.reshape(hessians, [num_images, -1, latent_dim, latent_dim]), axis=1)
  return 0.5 * (hessians + tf.linalg.matrix_transpose(hessians))


def eigen_table_row(hessians):
  """(V [N, D, D], λ⁺ [N, D]) float64 of symmetric Hessians [N, D, D]."""
  eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(hessians, np.float64))
  return eigenvectors, np.maximum(eigenvalues, 0.0)


def hessian_gradients_per_image(num_anchors, latent_dim, num_chains):
  """Decoder gradients the anchors of one pass cost each image."""
  return (int(num_anchors) * min(HESSIAN_CHAINS, int(num_chains)) *
          int(latent_dim) * HESSIAN_ROW_GRADIENTS)
