"""tfrd: rate-prior distortion curves of deep generative models.

Implements Huang, Makhzani, Cao & Grosse, "Evaluating Lossy Compression Rates
of Deep Generative Models" (ICML 2020): one annealed importance sampling run
with HMC transitions along q_β(z|x) ∝ p(z) exp(-β d(x, f(z))) estimates the
whole curve R_p(D) of a decoder f with prior p.

Main entry points:

- `estimate_rd_curve(decoder, data, distortion, schedule, latent_dim=...,
  prior=..., chains=ChainSettings(...), control=RunControl(...))` ->
  `RDCurve` (with `RunRecord`: acceptance, timing, the step-size table and
  one latent per image and point)
- curves that state their accuracy: `estimate_rd_curve_checked(...,
  accuracy=AccuracySettings(...))` lengthens the schedule until BDMC gaps
  meet a target and records the check in `RDCurve.bdmc` and
  `RDCurve.accuracy` (`tfrd.accuracy`: `plan_check`, `search_reach`,
  `settle_schedule`, `measure_user_images`, `run_warnings`)
- settings, each one validated value (`tfrd.settings`, importable without
  TensorFlow): `ScheduleSettings` (the schedule as the apps describe it;
  `schedule_from_settings` builds it), `ChainSettings` (chains per image,
  seed, `HMCSettings`, XLA, decoder dtype, a step-size table to replay),
  `RunControl` (progress, checkpoints, stop requests, devices),
  `AccuracySettings` (the BDMC check and its target gap)
- schedules: `sigmoid_betas`, `geometric_betas`, `linear_betas`,
  `rd_point_betas`, `build_schedule`, `AnnealingSchedule`,
  `schedule_from_settings`
- distortions: `SquaredError`, `GaussianNLL` (a given scale or the
  decoder's own variance), `BernoulliNLL`, `DeepFeatureDistortion` (§6.3),
  `SSIMDistortion` (1 - SSIM), `get_distortion`
- long runs: `RunControl(checkpoint_dir=..., stop=...)`, `RunInterrupted`,
  `CheckpointMismatchError`, `CheckpointExistsError`,
  `CheckpointDirectoryError`; `tfrd.checkpointing.remove_checkpoint`;
  `tfrd.files.atomic_write` (results written whole or not at all)
- several devices and machines: `RunControl(strategy=...)` with a
  `tf.distribute` strategy; how the images are split and merged is
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
  `AnnealedHMCResults`; `StepSizeAdaptation` (tfrd's step-size rule as a
  kernel wrapping another, like `tfp.mcmc.SimpleStepSizeAdaptation`),
  `StepSizeAdaptationResults`: every transition of `run_ais` and of BDMC
  is one of these kernels' (`tfrd.kernel`)
- the passes a step-size mode makes and their cost: `num_passes`,
  `decoder_gradients_per_chain` (`tfrd.passes`)
- lower level: `run_ais`, `hmc_transition`, `estimate_rate_distortion`,
  `plot_curves`, `plot_reconstructions`
- decoders: any callable latents [B, D] -> outputs; how tfrd calls them
  (Keras models in inference mode) is `tfrd.decoders`

Every name here, and every submodule (`tfrd.checkpointing`, ...), is loaded
on first use: `import tfrd` imports neither TensorFlow nor Keras nor
matplotlib (and leaves matplotlib's backend alone).
"""

__version__ = '0.1.0'


# Every public name is loaded on first use, by `__getattr__`: `import tfrd`
# imports neither TensorFlow nor anything else heavy, so that programs can
# define their flags from `tfrd.settings` before TensorFlow loads. Keras
# (`RDCurveCallback`) and matplotlib (plotting) load only when used.
# name -> (module, attribute or None for the module itself).
_LAZY = {
    # Settings: no TensorFlow.
    'ChainSettings': ('tfrd.settings', 'ChainSettings'),
    'HMCSettings': ('tfrd.settings', 'HMCSettings'),
    'RunControl': ('tfrd.settings', 'RunControl'),
    'ScheduleSettings': ('tfrd.settings', 'ScheduleSettings'),
    'AccuracySettings': ('tfrd.settings', 'AccuracySettings'),
    'settings': ('tfrd.settings', None),
    # Schedules: NumPy only.
    'AnnealingSchedule': ('tfrd.schedules', 'AnnealingSchedule'),
    'build_schedule': ('tfrd.schedules', 'build_schedule'),
    'geometric_betas': ('tfrd.schedules', 'geometric_betas'),
    'linear_betas': ('tfrd.schedules', 'linear_betas'),
    'rd_point_betas': ('tfrd.schedules', 'rd_point_betas'),
    'schedule_from_settings': ('tfrd.schedules', 'schedule_from_settings'),
    'sigmoid_betas': ('tfrd.schedules', 'sigmoid_betas'),
    # The estimate and its result.
    'estimate_rd_curve': ('tfrd.api', 'estimate_rd_curve'),
    'estimate_rd_curve_checked': ('tfrd.accuracy',
                                  'estimate_rd_curve_checked'),
    'accuracy': ('tfrd.accuracy', None),
    'RDCurve': ('tfrd.curve', 'RDCurve'),
    'RunRecord': ('tfrd.curve', 'RunRecord'),
    'AISRun': ('tfrd.ais', 'AISRun'),
    'ChainState': ('tfrd.ais', 'ChainState'),
    'DecoderOutputError': ('tfrd.ais', 'DecoderOutputError'),
    'ProgressUpdate': ('tfrd.ais', 'ProgressUpdate'),
    'run_ais': ('tfrd.ais', 'run_ais'),
    'RunInterrupted': ('tfrd.ais', 'RunInterrupted'),
    'CheckpointDirectoryError': ('tfrd.checkpointing',
                                 'CheckpointDirectoryError'),
    'CheckpointExistsError': ('tfrd.checkpointing', 'CheckpointExistsError'),
    'CheckpointMismatchError': ('tfrd.checkpointing',
                                'CheckpointMismatchError'),
    'distribute': ('tfrd.distribute', None),
    # BDMC.
    'bdmc_at_points': ('tfrd.bdmc', 'bdmc_at_points'),
    'BDMCResult': ('tfrd.bdmc', 'BDMCResult'),
    'run_bdmc': ('tfrd.bdmc', 'run_bdmc'),
    'simulate_data': ('tfrd.bdmc', 'simulate_data'),
    'SimulatedData': ('tfrd.bdmc', 'SimulatedData'),
    'truncate_schedule': ('tfrd.bdmc', 'truncate_schedule'),
    # Distortions.
    'BernoulliNLL': ('tfrd.distortions', 'BernoulliNLL'),
    'DeepFeatureDistortion': ('tfrd.distortions', 'DeepFeatureDistortion'),
    'Distortion': ('tfrd.distortions', 'Distortion'),
    'GaussianNLL': ('tfrd.distortions', 'GaussianNLL'),
    'get_distortion': ('tfrd.distortions', 'get_distortion'),
    'SquaredError': ('tfrd.distortions', 'SquaredError'),
    'SSIMDistortion': ('tfrd.distortions', 'SSIMDistortion'),
    # Lower level.
    'estimate_rate_distortion': ('tfrd.estimators',
                                 'estimate_rate_distortion'),
    'RDEstimate': ('tfrd.estimators', 'RDEstimate'),
    'adapt_step_size': ('tfrd.hmc', 'adapt_step_size'),
    'hmc_transition': ('tfrd.hmc', 'hmc_transition'),
    'leapfrog': ('tfrd.hmc', 'leapfrog'),
    'AnnealedHMC': ('tfrd.kernel', 'AnnealedHMC'),
    'AnnealedHMCResults': ('tfrd.kernel', 'AnnealedHMCResults'),
    'StepSizeAdaptation': ('tfrd.kernel', 'StepSizeAdaptation'),
    'StepSizeAdaptationResults': ('tfrd.kernel', 'StepSizeAdaptationResults'),
    'AnnealedTarget': ('tfrd.target', 'AnnealedTarget'),
    'standard_normal_prior': ('tfrd.target', 'standard_normal_prior'),
    'TargetParts': ('tfrd.target', 'TargetParts'),
    'passes': ('tfrd.passes', None),
    'decoder_gradients_per_chain': ('tfrd.passes',
                                    'decoder_gradients_per_chain'),
    'num_passes': ('tfrd.passes', 'num_passes'),
    # Validation.
    'compare_with_exact': ('tfrd.linear', 'compare_with_exact'),
    'ExactComparison': ('tfrd.linear', 'ExactComparison'),
    'linear_distortion_variance': ('tfrd.linear',
                                   'linear_distortion_variance'),
    'linear_rate_distortion': ('tfrd.linear', 'linear_rate_distortion'),
    'linear_rate_distortion_scale_mixture': (
        'tfrd.linear', 'linear_rate_distortion_scale_mixture'),
    'LinearRDCurve': ('tfrd.linear', 'LinearRDCurve'),
    'quadrature': ('tfrd.quadrature', None),
    'grid_rd_curve': ('tfrd.quadrature', 'grid_rd_curve'),
    'GridCurve': ('tfrd.quadrature', 'GridCurve'),
    # The Keras callback imports Keras.
    'RDCurveCallback': ('tfrd.callbacks', 'RDCurveCallback'),
    # Plotting imports matplotlib, which most runs need only at the end, if
    # at all.
    'plot_curves': ('tfrd.plotting', 'plot_curves'),
    'plot_reconstructions': ('tfrd.plotting', 'plot_reconstructions'),
    'plotting': ('tfrd.plotting', None),
}

__all__ = sorted(_LAZY)


def __getattr__(name):
  """Loads a public name, or the submodule `tfrd.<name>`, on first use."""
  import importlib  # pylint: disable=g-import-not-at-top
  if name in _LAZY:
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
  elif not name.startswith('_'):
    # Any submodule, e.g. `tfrd.checkpointing.remove_checkpoint` with no
    # `import tfrd.checkpointing` first.
    try:
      value = importlib.import_module(f'{__name__}.{name}')
    except ModuleNotFoundError as error:
      if error.name != f'{__name__}.{name}':
        raise  # The submodule exists but needs a missing package.
      raise AttributeError(f'module tfrd has no attribute {name!r}') from None
  else:
    raise AttributeError(f'module tfrd has no attribute {name!r}')
  globals()[name] = value
  return value


def __dir__():
  return sorted(set(globals()) | set(_LAZY))
