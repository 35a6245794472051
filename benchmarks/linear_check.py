r"""Compares an `apps.rd_curve` result on a linear decoder with its closed form.

    python -m benchmarks.linear_check --model=linear_decoder.keras \
        --dataset=npz:test_images.npz --curve_dir=runs/mse

Reads the decoder's Dense kernel and bias, the curve's distortion from its
curve.json, recomputes the exact curve (appendix D.3.1) at the same betas
and prints every point's deviation against the tolerance
|ΔR| <= 0.3 nats + 3% R and |ΔD| <= 3% D + 4 Monte Carlo standard errors
(`tfrd.compare_with_exact`). Exit status 1 if any point fails.
"""

import json
import sys

from absl import flags
import numpy as np

from pipelines import jobs

from adapters import datasets
from adapters import keras_decoder
import tfrd

FLAGS = flags.FLAGS
flags.DEFINE_string('model', None, 'The linear .keras decoder.')
flags.DEFINE_string('dataset', None, 'The data the curve was computed on.')
flags.DEFINE_string('curve_dir', None, 'Directory with curve.json / npz.')
flags.DEFINE_float('rate_tolerance_nats', 0.3, 'Absolute rate tolerance.')
flags.DEFINE_float('relative_tolerance', 0.03, 'Relative tolerance.')
flags.DEFINE_float('distortion_tolerance_stderrs', 4.0,
                   'Monte Carlo standard errors of D added to its tolerance.')


def main(argv):
  del argv
  decoder = keras_decoder.load_keras_decoder(FLAGS.model)
  dense = [layer for layer in decoder.model.layers if layer.get_weights()]
  if len(dense) != 1:
    sys.exit('linear_check: the model must be a single Dense layer.')
  kernel, bias = dense[0].get_weights()
  curve = tfrd.RDCurve.load(FLAGS.curve_dir)
  config = curve.config['distortion']
  distortion = tfrd.get_distortion(
      config['name'], **{k: v for k, v in config.items() if k != 'name'})
  images = datasets.load_dataset(FLAGS.dataset, curve.num_images,
                                 offset=int(curve.image_indices[0]))
  exact = tfrd.linear_rate_distortion(kernel, bias, images, curve.betas,
                                      distortion)
  comparison = tfrd.compare_with_exact(
      curve, exact, tfrd.linear_distortion_variance(
          kernel, bias, images, curve.betas, distortion),
      rate_tolerance_nats=FLAGS.rate_tolerance_nats,
      rate_tolerance_relative=FLAGS.relative_tolerance,
      distortion_tolerance_relative=FLAGS.relative_tolerance,
      distortion_tolerance_stderrs=FLAGS.distortion_tolerance_stderrs)
  rate_exact, distortion_exact = (comparison.rate_exact,
                                  comparison.distortion_exact)
  rate_error, distortion_error = (comparison.rate_error,
                                  comparison.distortion_error)
  rate_allowed, distortion_allowed = (comparison.rate_allowed,
                                      comparison.distortion_allowed)
  print(f'{"beta":>10} {"R exact":>9} {"R AIS":>9} {"dR/tol":>7} '
        f'{"D exact":>10} {"D AIS":>10} {"dD/tol":>7}')
  for i, beta in enumerate(curve.betas):
    print(f'{beta:10.4g} {rate_exact[i]:9.3f} {curve.rate[i]:9.3f} '
          f'{rate_error[i] / rate_allowed[i]:+7.2f} {distortion_exact[i]:10.4f} '
          f'{curve.distortion[i]:10.4f} '
          f'{distortion_error[i] / distortion_allowed[i]:+7.2f}')
  worst_rate = float(np.max(comparison.rate_error_over_tolerance))
  worst_distortion = float(np.max(comparison.distortion_error_over_tolerance))
  summary = {
      'distortion': config,
      'num_transitions': curve.config.get('num_transitions'),
      'max_rate_error_nats': float(np.max(np.abs(rate_error))),
      'mean_rate_error_nats': float(np.mean(rate_error)),
      'min_rate_error_nats': float(np.min(rate_error)),
      'max_rate_error_over_tolerance': worst_rate,
      'max_distortion_relative_error': float(
          np.max(np.abs(distortion_error) / np.abs(distortion_exact))),
      'max_distortion_error_over_tolerance': worst_distortion,
      'ais_wall_time_s': curve.timing.get('ais_total_s'),
  }
  print(json.dumps(summary, indent=1))
  return 0 if comparison.within_tolerance else 1


if __name__ == '__main__':
  flags.mark_flags_as_required(['model', 'dataset', 'curve_dir'])
  jobs.run(main)
