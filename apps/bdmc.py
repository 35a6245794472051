r"""BDMC gaps: how tight the AIS curve of a decoder is, at chosen points.

    python -m apps.bdmc --model=decoder.keras --rd_points=0.1,1,1000 \
        --num_images=10 --output_dir=runs/bdmc

For every point β of --rd_points (default: the lowest RD β, 1 and the largest)
this simulates --num_images images from the model at β (z ~ p(z), x from the
channel exp(-β d(x, f(z))); `tfrd.bdmc.simulate_data`), runs forward AIS from
the prior to β (a stochastic lower bound on log Z_β(x)) and reverse AIS from
the generating z back to the prior (a stochastic upper bound), along the
schedule an `apps.rd_curve` run with the same flags would take to β. The
difference, the BDMC gap (paper §2.1, appendix D.3.2, Fig. 9), bounds the
error of that run's log Ẑ, hence of its rate, at β.

--decoder_precision and --device are those of `apps.rd_curve`: the decoder
computes in float32 with TF32 off unless asked otherwise, and the choice is
recorded in bdmc.json; a bfloat16 decoder runs without XLA
(`pipelines.bdmc_points`).

Writes into --output_dir: bdmc.json (per point the record curve.json's
`bdmc` field holds too, `tfrd.accuracy.point_record`, with per-image
values and the forward curve; settings and timing), bdmc.png (the forward
curve of each point's simulated data with its gap annotated, and the gaps
against β) and simulated.npz (the simulated x and z of every point). The
run is `pipelines.bdmc_points.run_bdmc_job`.
"""

import os

from absl import app
from absl import flags

from apps import ais_flags
from apps import model_flags
from apps import number_flags
from apps import output_flags
from apps import precision_flags
from pipelines import jobs
from pipelines import settings as pipeline_settings

FLAGS = flags.FLAGS

flags.DEFINE_string('model', None,
                    'Path of the decoder, a Keras 3 .keras file.')
flags.DEFINE_list(
    'rd_points', None,
    'Inverse temperatures at which to measure the BDMC gap, e.g. 0.1,1,1000 '
    '(default: the lowest RD beta, 1 and the largest; only 1 '
    'for Bernoulli NLL, whose channel is normalized only there). Each must '
    'lie in (0, largest beta of the schedule].')
flags.DEFINE_integer('num_images', 10,
                     'Images simulated from the model at each point.')
flags.DEFINE_string('output_dir', 'bdmc_output',
                    'Directory for bdmc.json, bdmc.png and simulated.npz.')
output_flags.define_overwrite_flag()
ais_flags.define_ais_flags()
model_flags.define_model_loading_flags()
precision_flags.define_precision_flags()
# Show the AIS, model loading and precision flags in --help, not only under
# --helpfull.
flags.adopt_module_key_flags(ais_flags)
flags.adopt_module_key_flags(model_flags)
flags.adopt_module_key_flags(precision_flags)
flags.adopt_module_key_flags(output_flags)


def job_from_flags():
  """The `pipelines.settings.BDMCJob` the flags describe.

  Raises:
    ValueError: for impossible values, one line naming the flag.
  """
  betas = number_flags.floats_from_flags('rd_points')
  model = pipeline_settings.ModelSettings(
      path=FLAGS.model, **model_flags.loading_from_flags(),
      **precision_flags.precision_from_flags())
  return pipeline_settings.BDMCJob(
      model=model, distortion=ais_flags.distortion_settings_from_flags(),
      schedule=ais_flags.schedule_settings_from_flags(),
      chains=ais_flags.chain_settings_from_flags(), betas=betas,
      num_images=FLAGS.num_images, output_dir=FLAGS.output_dir,
      overwrite=FLAGS.overwrite)


def _run(job):
  # pylint: disable=g-import-not-at-top
  from pipelines import bdmc_points
  from pipelines import devices
  # pylint: enable=g-import-not-at-top
  device = (None if job.model.device is None else
            devices.canonical_device(job.model.device))
  document = devices.run_on_device(device,
                                   lambda: bdmc_points.run_bdmc_job(job))
  _print_summary(document, job.output_dir)
  return document


def _print_summary(document, output_dir):
  print(f'{"beta":>10} {"lower":>12} {"upper":>12} {"gap":>8} {"gap max":>8} '
        f'{"rate":>9} {"transitions":>11}')
  for record in document['points']:
    print(f'{record["beta"]:10.4g} {record["mean_lower"]:12.4f} '
          f'{record["mean_upper"]:12.4f} {record["mean_gap"]:8.4f} '
          f'{record["max_gap"]:8.4f} {record["forward_rate"]:9.3f} '
          f'{record["num_transitions"]:11d}')
  print(f'largest mean BDMC gap {document["max_gap"]:.4f} nats; wall time '
        f'{document["timing"]["wall_time_s"]:.1f} s; wrote '
        f'{os.path.join(output_dir, "bdmc.json")}, bdmc.png, simulated.npz')


def main(argv):
  del argv  # jobs.run refused stray arguments.
  ais_flags.preset_from_flags()
  if not FLAGS.model:
    raise app.UsageError('--model is required: a Keras 3 .keras decoder.')
  from pipelines import curve_run  # pylint: disable=g-import-not-at-top
  return jobs.run_job('bdmc', lambda: _run(job_from_flags()),
                      curve_run.EXPECTED_ERRORS)


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
