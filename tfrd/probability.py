"""TensorFlow Probability, imported with an error that says what to install.

Why this exists: TFP 0.25 imports tf-keras (Keras 2) whenever TensorFlow's
own Keras is Keras 3, and every tf-keras release requires its own TensorFlow
minor version. tfrd does not require tf-keras (setup.py's `tf` extra brings
it): pip, asked for tf-keras, takes the newest and with it replaces the
TensorFlow of the environment tfrd is installed into. Without tf-keras, TFP's
import fails deep inside TFP with a bare "No module named 'tf_keras'"; tfrd's
modules import TFP from here instead, which names the tf-keras release that
fits the TensorFlow present. `tests/test_packaging.py` checks the message.
"""

import tensorflow as tf

try:
  import tf_keras  # pylint: disable=g-import-not-at-top,unused-import
except ImportError:
  _MAJOR_MINOR = '.'.join(tf.__version__.split('.')[:2])
  raise ImportError(
      f'tfrd needs tf-keras {_MAJOR_MINOR}, the Keras 2 that TensorFlow '
      f'Probability imports beside TensorFlow {tf.__version__}: pip install '
      f'"tf-keras~={_MAJOR_MINOR}.0".') from None

import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top,g-bad-import-order

__all__ = ['tfp']
