r"""Reproduces a figure of Huang et al. (2020)'s MNIST experiments end to end.

    python -m apps.reproduce --figure=fig4 --budget=smoke --output_dir=runs/repro

Trains the figure's zoo models (zoo.build_model + zoo.training.Trainer),
computes its rate-prior distortion curves (tfrd.estimate_rd_curve) and
writes OUTPUT_DIR/FIGURE/results.json (every curve's points and the exact
settings: models, images, chains, schedule, L, seeds, wall times) and
OUTPUT_DIR/FIGURE/figure.png (drawn from results.json by
pipelines/report_figures.py). --figure=all runs every
figure below, skipping finished ones.

Figures: fig7 (linear VAE, AIS vs closed form), fig4 (VAE, GAN-GP, AAE,
code sizes 2, 10, 100), fig3a (shallow and deep GAN-GP, code sizes 2, 5, 10,
100), fig8 (seed study with frozen step sizes), fig9 (BDMC gaps), fig5a
(VAE10 with a damaged mixture prior: curves and log-likelihoods), fig5b
(VAE10 with blurred outputs), d4 (low- and high-rate reconstructions of
every family at codes 2, 10, 100), lossless (VAE log-likelihoods by code
size), variants (the zoo's GAN variants at code sizes 2, 10, 100, MNIST's
version of Fig. 3b). Budgets (pipelines/reproduce.py, BUDGETS): smoke (a
minute per figure), cpu (hours on 2 cores), longer (cpu's AIS on models
trained on all 60,000 images for 10 epochs), paper (appendix D.1-D.2, for
a GPU). Every model trains with its family's recipe (zoo.recipe: appendix
D.1's where it gives one).

Everything is resumable: the same command reuses the models and curves
already in OUTPUT_DIR (apps.reproduce lists what it wrote in
reproduce_manifest.json) and continues an interrupted training or AIS run
from its checkpoint. Files there that apps.reproduce did not write are
refused before any work unless --overwrite.

    python -m apps.reproduce --redraw --output_dir=report/cpu [--figure=fig4]

redraws figures without computing anything: each OUTPUT_DIR/FIGURE/
figure.png is drawn again from the results.json beside it
(pipelines/report_figures.py draws every figure, during a run as here);
without --figure (or with --figure=all), every figure with a results.json
there. d4's reconstructions are not in results.json and are skipped; a
named figure without results.json is refused.
"""

import sys

from absl import flags

from pipelines import jobs
from pipelines import reproduce

FLAGS = flags.FLAGS

flags.DEFINE_string('figure', None,
                    f'The figure to reproduce: {", ".join(reproduce.FIGURES)} '
                    f'or all.')
flags.DEFINE_string('budget', None,
                    f'Settings: {", ".join(reproduce.BUDGETS)} (see '
                    f'pipelines/reproduce.py).')
flags.DEFINE_string('output_dir', None, 'Directory of the results.')
flags.DEFINE_bool(
    'overwrite', False,
    'Replace files under the names the run writes that apps.reproduce did '
    'not write itself (they are refused otherwise). Work apps.reproduce '
    'recorded as its own is reused either way.')
flags.DEFINE_string('data_dir', None,
                    'Directory with mnist/ raw files (default: '
                    '$TFRD_DATA_DIR; without either, TFDS downloads MNIST).')
flags.DEFINE_string('tfds_data_dir', None, 'TFDS data directory.')
flags.DEFINE_bool(
    'redraw', False,
    'Compute nothing: rewrite OUTPUT_DIR/FIGURE/figure.png from the '
    'results.json beside it, for --figure (default: every figure with a '
    'results.json in --output_dir); --budget is not needed.')


def figure_names(figure):
  """The figures --figure names.

  Raises:
    reproduce.ReproduceError: for an unknown name.
  """
  if figure == 'all':
    return list(reproduce.FIGURES)
  if figure not in reproduce.FIGURES:
    raise reproduce.ReproduceError(
        f'--figure must be one of {", ".join(reproduce.FIGURES)} or all, got '
        f'{figure!r}.')
  return [figure]


def run_from_flags():
  """The `reproduce.Run` and the figures the flags ask for, once every flag
  and the output directory are checked.

  Raises:
    reproduce.ReproduceError: before any work.
  """
  names = figure_names(FLAGS.figure)
  if FLAGS.budget not in reproduce.BUDGETS:
    raise reproduce.ReproduceError(
        f'--budget must be one of {", ".join(reproduce.BUDGETS)}, got '
        f'{FLAGS.budget!r}.')
  if not FLAGS.output_dir:
    raise reproduce.ReproduceError('--output_dir is required.')
  run = reproduce.Run(FLAGS.output_dir, FLAGS.budget, overwrite=FLAGS.overwrite,
                    data_dir=FLAGS.data_dir, tfds_data_dir=FLAGS.tfds_data_dir)
  run.check(names)
  return run, names


def redraw_from_flags():
  """Redraws the figures --figure names (all with a results.json if unset
  or 'all') in --output_dir from their results.json; returns the paths.

  Raises:
    reproduce.ReproduceError: before anything is drawn.
  """
  # pylint: disable=g-import-not-at-top
  from pipelines import report_figures
  # pylint: enable=g-import-not-at-top
  if not FLAGS.output_dir:
    raise reproduce.ReproduceError('--output_dir is required.')
  names = (None if FLAGS.figure in (None, 'all') else
           figure_names(FLAGS.figure))
  return report_figures.redraw(FLAGS.output_dir, names, say=reproduce.say)


def main(argv):
  del argv  # jobs.run refused stray arguments.
  if FLAGS.redraw:
    try:
      for path in redraw_from_flags():
        reproduce.say(f'redrew {path}')
    except (reproduce.ReproduceError, ValueError, OSError) as error:
      sys.stderr.write(f'reproduce: error: {error}\n')
      return 2
    return 0
  try:
    # Before TensorFlow is imported: bad input costs no start-up time.
    run, names = run_from_flags()
  except reproduce.ReproduceError as error:
    sys.stderr.write(f'reproduce: error: {error}\n')
    return 2
  # pylint: disable=g-import-not-at-top
  from adapters import datasets
  import tfrd
  from zoo import training
  # pylint: enable=g-import-not-at-top
  return jobs.run_job(
      'reproduce',
      lambda: [reproduce.run_figure(run, reproduce.FIGURES[name])
               for name in names],
      (reproduce.ReproduceError, datasets.DatasetError, tfrd.DecoderOutputError,
       training.TrainingCheckpointError, training.TrainingDivergedError,
       ValueError, OSError),
      interrupted_message='interrupted; the same command continues from the '
      'last checkpoints.')


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
