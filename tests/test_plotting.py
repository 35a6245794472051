"""tfrd.plotting: the axes a comparison figure picks."""

import numpy as np

from tfrd import plotting


def _curve(top):
  betas = np.geomspace(0.1, 1000.0, 12)
  rate = np.geomspace(0.05, top, 12)
  return (100.0 / (1.0 + rate), rate, betas)


def test_rates_of_very_different_scales_share_a_log_axis():
  figure = plotting.curves_figure({'small': _curve(9.0),
                                   'large': _curve(1000.0)})
  rd_axis, beta_axis = figure.axes
  assert rd_axis.get_yscale() == 'log' and beta_axis.get_yscale() == 'log'


def test_one_curve_or_similar_scales_keep_a_linear_axis():
  for curves in ({'one': _curve(1000.0)},
                 {'a': _curve(60.0), 'b': _curve(80.0)}):
    rd_axis, beta_axis = plotting.curves_figure(curves).axes
    assert rd_axis.get_yscale() == 'linear', curves.keys()
    assert beta_axis.get_yscale() == 'linear'
  # Explicit wins; a rate of zero cannot go on a log axis.
  assert plotting.curves_figure({'a': _curve(60.0)},
                                log_rate=True).axes[0].get_yscale() == 'log'
  zero = (np.ones(3), np.array([0.0, 1.0, 2.0]), np.ones(3))
  assert plotting.curves_figure({'a': zero, 'b': _curve(1000.0)}).axes[
      0].get_yscale() == 'linear'


def test_a_long_title_wraps_inside_the_figure():
  # apps.reproduce's fig6 description, as its figure.png carries it.
  title = ('VAE, GAN-GP (WGAN-GP) and AAE at code sizes 2 and 10 under the '
           'deep-feature distortion: squared error between the hidden '
           'features of an MNIST CNN classifier (Fig. 6) [cpu budget]')
  figure = plotting.curves_figure({'a': _curve(60.0)}, title=title)
  figure.canvas.draw()
  [suptitle] = [text for text in figure.texts if text.get_text()]
  assert suptitle.get_text().replace('\n', ' ') == title
  extent = suptitle.get_window_extent()
  assert 0 <= extent.x0 and extent.x1 <= figure.bbox.width
  assert extent.y1 <= figure.bbox.height
  # The title stays above the panels.
  assert all(extent.y0 >= axis.get_window_extent().y1 - 1
             for axis in figure.axes)
