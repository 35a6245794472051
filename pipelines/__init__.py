"""The pipelines that combine tfrd, adapters and zoo, with plain parameters.

One owner for each step that the apps, `apps.reproduce`, the benchmarks and
users' scripts share:

- `curve_run`: one curve run (load the model and the data, check and
  settle the schedule, estimate, write, check), `apps.rd_curve`;
- `bdmc_points`: a curve's accuracy check (`tfrd.accuracy`) run, written
  and printed; `apps.bdmc`;
- `training`: train and export a zoo model, `apps.train`;
- `linear_comparison`: AIS against the linear VAE's closed form,
  `apps.linear_vae`;
- `compare`, `curves`: reading and comparing finished curves (the one
  interpolation), `apps.compare`;
- `reproduce`, `findings`: the paper's figures and the judges of its
  claims, `apps.reproduce`, `apps.findings`;
- `entropic_gan`: `apps.entropic_gan`;
- `settings`: the settings values the apps build from their flags (no
  TensorFlow, so that `--help` is quick);
- `devices`, `jobs`, `output_files`, `progress`, `distributed_run`,
  `quiet_tensorflow`: where a run computes, how an entry point runs its
  job, the rules of a user's files, progress lines, several workers, and
  TensorFlow's start-up notices.

Nothing here reads absl flags or imports apps; importing it has no side
effect.
"""
