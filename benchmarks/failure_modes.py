r"""§6.2 on a trained decoder: a damaged prior hurts low rates, blur high rates.

    TFRD_DATA_DIR=../shared/data python -m benchmarks.failure_modes \
        --output_dir=runs/failure_modes

Fits the linear Gaussian decoder of `apps.linear_vae` to MNIST, then
estimates with AIS (through the same adapters `apps.rd_curve` uses) the
squared-error curves of
  - the decoder with its standard normal prior,
  - the same decoder with the damaged prior (1 - α)N(0, I) + αN(0, 10 I),
  - the decoder whose output is blurred with a Gaussian of σ pixels,
and draws each beside its exact curve (the blurred decoder is still linear;
the mixture prior's curve is a mixture of closed forms). Writes
`failure_modes.png` and `failure_modes.json`, and prints, for each
manipulation, the rate it adds at a low and at a high distortion level and
the distortion it adds at the highest β.
"""

import json
import os

from absl import flags
import numpy as np

from pipelines import jobs

import tfrd

FLAGS = flags.FLAGS
flags.DEFINE_string('output_dir', 'failure_modes_output', 'Output directory.')
flags.DEFINE_integer('num_images', 10, 'MNIST test images.')
flags.DEFINE_integer('num_chains', 16, 'AIS chains per image.')
flags.DEFINE_integer('num_intermediate', 1500, 'Geometric base schedule size.')
flags.DEFINE_float('alpha', 0.5, 'Weight of the wide mixture component.')
flags.DEFINE_float('blur_sigma', 1.0, 'Blur standard deviation (pixels).')
flags.DEFINE_integer('seed', 0, 'Seed.')


def _mean_curve(curve):
  return {'beta': np.asarray(curve.betas).tolist(),
          'rate': np.asarray(curve.rate).reshape(len(curve.betas), -1).mean(
              1).tolist(),
          'distortion': np.asarray(curve.distortion).reshape(
              len(curve.betas), -1).mean(1).tolist()}


def _rate_at_distortion(curve, level):
  """Rate where the (monotone) curve reaches distortion `level`."""
  distortion = np.asarray(curve['distortion'])[::-1]
  rate = np.asarray(curve['rate'])[::-1]
  return float(np.interp(level, distortion, rate))


def main(argv):
  del argv
  # TensorFlow loads here, after jobs.run installed its notice filter.
  # pylint: disable=g-import-not-at-top
  from adapters import datasets
  from adapters import manipulations
  from adapters import models
  from adapters import priors
  from zoo import linear_gaussian
  # pylint: enable=g-import-not-at-top
  train = datasets.load_dataset('mnist', 10000, split='train')
  test = datasets.load_dataset('mnist', FLAGS.num_images, split='test')
  kernel, bias, _ = linear_gaussian.fit_linear_gaussian(train, latent_dim=10)
  model = linear_gaussian.make_linear_decoder(kernel, bias)
  kernel32, bias32 = (w.astype(np.float64) for w in model.get_weights())
  flat = test.reshape(test.shape[0], -1)
  schedule = tfrd.build_schedule(
      tfrd.rd_point_betas(20, 1000.0),
      tfrd.geometric_betas(FLAGS.num_intermediate, 1000.0, 1 / 12), 800, 10)
  settings = dict(
      latent_dim=10,
      chains=tfrd.ChainSettings(num_chains=FLAGS.num_chains, seed=FLAGS.seed,
                                hmc=tfrd.HMCSettings(num_leapfrog_steps=10)))
  betas = schedule.rd_betas
  loss = tfrd.SquaredError()

  blurred = manipulations.gaussian_blur(models.decoder_from_object(model),
                                        FLAGS.blur_sigma,
                                        image_shape=(28, 28, 1))
  # The blurred decoder is linear too: its kernel rows are blurred images.
  blur_rows = lambda rows: np.asarray(manipulations.blur_images(
      rows.reshape(-1, 28, 28, 1).astype(np.float32),
      FLAGS.blur_sigma)).reshape(rows.shape[0], -1).astype(np.float64)
  cases = {
      'standard prior': dict(
          ais=tfrd.estimate_rd_curve(model, flat, loss, schedule, **settings),
          exact=tfrd.linear_rate_distortion(kernel32, bias32, flat, betas,
                                            loss)),
      f'damaged prior (alpha={FLAGS.alpha:g})': dict(
          ais=tfrd.estimate_rd_curve(
              model, flat, loss, schedule,
              prior=priors.damaged_mixture_prior(10, FLAGS.alpha),
              **settings),
          exact=tfrd.linear_rate_distortion_scale_mixture(
              kernel32, bias32, flat, betas, loss,
              [1 - FLAGS.alpha, FLAGS.alpha], [1.0, np.sqrt(10.0)])),
      f'blurred output (sigma={FLAGS.blur_sigma:g})': dict(
          ais=tfrd.estimate_rd_curve(blurred, flat, loss, schedule,
                                     **settings),
          exact=tfrd.linear_rate_distortion(
              blur_rows(kernel32), blur_rows(bias32[None])[0], flat, betas,
              loss)),
  }
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  figure_curves = {}
  chains = settings['chains']
  report = {'settings': {'num_chains': chains.num_chains,
                         'num_leapfrog_steps': chains.hmc.num_leapfrog_steps,
                         'seed': chains.seed,
                         'latent_dim': settings['latent_dim']},
            'num_images': FLAGS.num_images,
            'num_transitions': schedule.num_transitions, 'cases': {}}
  for label, case in cases.items():
    figure_curves[f'{label}: exact'] = (case['exact'].distortion.mean(1),
                                        case['exact'].rate.mean(1), betas)
    figure_curves[f'{label}: AIS'] = case['ais']
    report['cases'][label] = {'ais': _mean_curve(case['ais']),
                              'exact': _mean_curve(case['exact'])}
  tfrd.plot_curves(figure_curves,
                   os.path.join(FLAGS.output_dir, 'failure_modes.png'),
                   title='§6.2 on a linear VAE (MNIST): damaged prior vs blur')
  base = report['cases']['standard prior']['ais']
  low, high = np.percentile(base['distortion'], [80, 20])
  print(f'{"case":<32} {"dR at D=" + format(low, ".1f"):>12} '
        f'{"dR at D=" + format(high, ".1f"):>12} {"dD at beta_max":>15}')
  for label, values in report['cases'].items():
    ais = values['ais']
    summary = {
        'rate_added_at_low_rate': _rate_at_distortion(ais, low) -
                                  _rate_at_distortion(base, low),
        'rate_added_at_high_rate': _rate_at_distortion(ais, high) -
                                   _rate_at_distortion(base, high),
        'distortion_added_at_beta_max': ais['distortion'][-1] -
                                        base['distortion'][-1],
    }
    values['summary'] = summary
    print(f'{label:<32} {summary["rate_added_at_low_rate"]:12.3f} '
          f'{summary["rate_added_at_high_rate"]:12.3f} '
          f'{summary["distortion_added_at_beta_max"]:15.3f}')
  with open(os.path.join(FLAGS.output_dir, 'failure_modes.json'), 'w') as f:
    json.dump(report, f, indent=1)
  return 0


if __name__ == '__main__':
  jobs.run(main)
