"""tfrd: rate-prior distortion curves of deep generative models.

Implements Huang, Makhzani, Cao & Grosse, "Evaluating Lossy Compression Rates
of Deep Generative Models" (ICML 2020): one annealed importance sampling run
with HMC transitions along q_β(z|x) ∝ p(z) exp(-β d(x, f(z))) estimates the
whole curve R_p(D) of a decoder f with prior p.

Main entry points:

- `estimate_rd_curve(decoder, data, distortion, schedule, ...)` -> `RDCurve`
- schedules: `sigmoid_betas`, `geometric_betas`, `linear_betas`, `rd_point_betas`,
  `build_schedule`, `AnnealingSchedule`
- distortions: `SquaredError`, `GaussianNLL` (a given scale or the
  decoder's own variance), `BernoulliNLL`, `DeepFeatureDistortion` (§6.3),
  `SSIMDistortion` (1 - SSIM), `get_distortion`
- long runs: `checkpoint_dir=` and `stop=` of `estimate_rd_curve`,
  `RunInterrupted`, `CheckpointMismatchError`, `CheckpointExistsError`,
  `CheckpointDirectoryError`; `tfrd.checkpointing.remove_checkpoint`;
  `tfrd.files.atomic_write` (results written whole or not at all)
- several devices and machines: `estimate_rd_curve(..., strategy=...)` with
  a `tf.distribute` strategy; how the images are split and merged is
  `tfrd.distribute`
- inside training jobs: `RDCurveCallback` (Keras 3, writes tf.summary)
- validation: `linear_rate_distortion` (closed form for linear decoders),
  `compare_with_exact` with `linear_distortion_variance` (an AIS curve
  against it, with a Monte Carlo allowance);
  bidirectional Monte Carlo (§2.1, appendix D.3.2): `simulate_data`,
  `bdmc_at_points`, `BDMCResult`, `SimulatedData`, `truncate_schedule`, and
  `run_bdmc` for one point on a given schedule; `grid_rd_curve` (the exact
  curve of a decoder with a 1- or 2-dimensional code, by quadrature, with
  its own discretization and truncation errors), `GridCurve`
- TFP's kernel protocol: `AnnealedHMC` (tfrd's HMC transition as a
  `tfp.mcmc.TransitionKernel`, for `tfp.mcmc.sample_chain`),
  `AnnealedHMCResults`
- HMC settings as one value: `HMCSettings`; the passes a step-size mode
  makes and their cost: `num_passes`, `decoder_gradients_per_chain`
  (`tfrd.passes`)
- lower level: `run_ais`, `hmc_transition`, `estimate_rate_distortion`,
  `plot_curves`, `plot_reconstructions` (loaded on first use: `import tfrd`
  leaves matplotlib's backend alone)
- decoders: any callable latents [B, D] -> outputs; how tfrd calls them
  (Keras models in inference mode) is `tfrd.decoders`
"""

from tfrd.ais import AISRun
from tfrd.ais import ChainState
from tfrd.ais import DecoderOutputError
from tfrd.ais import ProgressUpdate
from tfrd.ais import run_ais
from tfrd.ais import RunInterrupted
from tfrd.bdmc import bdmc_at_points
from tfrd.bdmc import BDMCResult
from tfrd.bdmc import run_bdmc
from tfrd.bdmc import simulate_data
from tfrd.bdmc import SimulatedData
from tfrd.bdmc import truncate_schedule
from tfrd.checkpointing import CheckpointDirectoryError
from tfrd.checkpointing import CheckpointExistsError
from tfrd.checkpointing import CheckpointMismatchError
from tfrd.api import estimate_rd_curve
from tfrd import distribute
from tfrd.curve import RDCurve
from tfrd.distortions import BernoulliNLL
from tfrd.distortions import DeepFeatureDistortion
from tfrd.distortions import Distortion
from tfrd.distortions import GaussianNLL
from tfrd.distortions import get_distortion
from tfrd.distortions import SquaredError
from tfrd.distortions import SSIMDistortion
from tfrd.estimators import estimate_rate_distortion
from tfrd.estimators import RDEstimate
from tfrd.hmc import adapt_step_size
from tfrd.hmc import HMCSettings
from tfrd.kernel import AnnealedHMC
from tfrd.kernel import AnnealedHMCResults
from tfrd.hmc import hmc_transition
from tfrd.hmc import leapfrog
from tfrd.linear import compare_with_exact
from tfrd.linear import ExactComparison
from tfrd.linear import linear_distortion_variance
from tfrd.linear import linear_rate_distortion
from tfrd.linear import linear_rate_distortion_scale_mixture
from tfrd.linear import LinearRDCurve
from tfrd import passes
from tfrd import quadrature
from tfrd.passes import decoder_gradients_per_chain
from tfrd.passes import num_passes
from tfrd.quadrature import grid_rd_curve
from tfrd.quadrature import GridCurve
from tfrd.schedules import AnnealingSchedule
from tfrd.schedules import build_schedule
from tfrd.schedules import geometric_betas
from tfrd.schedules import linear_betas
from tfrd.schedules import rd_point_betas
from tfrd.schedules import sigmoid_betas
from tfrd.target import AnnealedTarget
from tfrd.target import standard_normal_prior
from tfrd.target import TargetParts

__version__ = '0.1.0'


# Loaded on first use, by `__getattr__`: name -> (module, attribute or None
# for the module itself).
_LAZY = {
    # The Keras callback imports Keras, so that `import tfrd` stays light
    # inside jobs that never use it.
    'RDCurveCallback': ('tfrd.callbacks', 'RDCurveCallback'),
    # Plotting imports matplotlib, which most runs need only at the end, if
    # at all.
    'plot_curves': ('tfrd.plotting', 'plot_curves'),
    'plot_reconstructions': ('tfrd.plotting', 'plot_reconstructions'),
    'plotting': ('tfrd.plotting', None),
}


def __getattr__(name):
  if name in _LAZY:
    import importlib  # pylint: disable=g-import-not-at-top
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)
  raise AttributeError(f'module tfrd has no attribute {name!r}')


def __dir__():
  return sorted(set(globals()) | set(_LAZY))
