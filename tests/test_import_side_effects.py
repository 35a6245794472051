"""`import tfrd` leaves the user's process as it was: matplotlib's backend.

A library that called `matplotlib.use('Agg')` on import would silently turn
off the figures of a notebook or GUI that imports it. Each check runs in a
fresh interpreter, since the backend is process state that another test may
already have set.
"""

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Chosen before tfrd is imported, as a user's session would; 'svg' is a
# non-interactive backend that is not Agg and needs no display.
_SCRIPT = textwrap.dedent("""
    import os
    import sys

    import matplotlib
    matplotlib.use('svg')

    import tfrd
    assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()
    # Plotting is loaded on first use only. (pyplot may be loaded already:
    # TensorFlow imports it, but that does not choose a backend.)
    assert 'tfrd.plotting' not in sys.modules

    output_dir = sys.argv[1]
    curve_path = tfrd.plot_curves(
        {'AIS': ([4.0, 2.0, 1.0], [0.5, 2.0, 4.0], [0.1, 1.0, 10.0])},
        os.path.join(output_dir, 'curve.png'), title='a curve')
    images = [[0.0, 0.5, 1.0, 0.5]] * 2
    grid_path = tfrd.plot_reconstructions(
        images, {'beta=1': images}, os.path.join(output_dir, 'grid.png'),
        image_shape=(2, 2, 1))
    assert tfrd.plotting.guess_image_shape(784) == (28, 28, 1)
    assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()
    print(curve_path)
    print(grid_path)
""")


def test_import_tfrd_keeps_the_matplotlib_backend_and_still_plots(tmp_path):
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
  env.pop('MPLBACKEND', None)  # The script chooses the backend itself.
  result = subprocess.run([sys.executable, '-c', _SCRIPT, str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  written = result.stdout.split()
  assert written == [str(tmp_path / 'curve.png'), str(tmp_path / 'grid.png')]
  for path in written:
    with open(path, 'rb') as stream:
      assert stream.read(8) == b'\x89PNG\r\n\x1a\n'  # PNG, whatever backend.
  # Written atomically (tfrd.files.save_figure): no partial file is left.
  assert sorted(os.listdir(tmp_path)) == ['curve.png', 'grid.png']
