"""tfrd.settings: validated values, importable without TensorFlow; tfrd's
lazy namespace."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf

import tfrd
from tfrd import settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What a program defining its flags does before TensorFlow loads.
_NO_TENSORFLOW = """
import sys
import tfrd.settings
import tfrd
chains = tfrd.ChainSettings(num_chains=8, hmc=tfrd.HMCSettings(3))
control = tfrd.RunControl(checkpoint_dir='out')
defaults = tfrd.ScheduleSettings()
assert 'ChainSettings' in dir(tfrd) and 'estimate_rd_curve' in dir(tfrd)
heavy = [name for name in ('tensorflow', 'tensorflow_probability', 'keras',
                           'numpy', 'matplotlib') if name in sys.modules]
assert not heavy, heavy
"""


def test_importing_tfrd_and_its_settings_loads_no_tensorflow():
  result = subprocess.run([sys.executable, '-c', _NO_TENSORFLOW], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=REPO),
                          capture_output=True, text=True, timeout=120,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]


def test_lazy_namespace_lists_and_loads_the_public_api():
  assert set(tfrd.__all__) <= set(dir(tfrd))
  for name in ('ChainSettings', 'RunControl', 'ScheduleSettings',
               'schedule_from_settings', 'estimate_rd_curve', 'RDCurve',
               'RunRecord', 'HMCSettings', 'CheckpointMismatchError',
               'RDCurveCallback', 'plot_curves', 'distribute', 'passes'):
    assert name in tfrd.__all__
  for name in tfrd.__all__:  # What help(tfrd) reads.
    assert getattr(tfrd, name) is not None, name
  # Submodules load on first use, without an import of their own.
  assert callable(tfrd.checkpointing.remove_checkpoint)
  assert tfrd.hmc.HMCSettings is settings.HMCSettings
  assert tfrd.ais.STEP_SIZE_MODES == settings.STEP_SIZE_MODES
  with pytest.raises(AttributeError, match='no attribute'):
    tfrd.no_such_name  # pylint: disable=pointless-statement


def test_chain_settings_defaults_and_normalisation():
  chains = tfrd.ChainSettings()
  assert (chains.num_chains, chains.seed, chains.jit_compile,
          chains.decoder_dtype, chains.step_size_table) == (
              16, 0, 'auto', 'float32', None)
  assert chains.hmc == tfrd.HMCSettings()
  for dtype in (tf.float64, np.float64, np.dtype('float64'), 'float64'):
    assert tfrd.ChainSettings(decoder_dtype=dtype).decoder_dtype == 'float64'
  assert tfrd.ChainSettings(decoder_dtype=tf.bfloat16).decoder_dtype == (
      'bfloat16')
  assert tfrd.ChainSettings(jit_compile=np.bool_(True)).jit_compile is True
  # _replace validates and normalises like the constructor.
  replaced = chains._replace(decoder_dtype=tf.float16)
  assert replaced.decoder_dtype == 'float16'


@pytest.mark.parametrize('fields, error, message', [
    ({'num_chains': 0}, ValueError, 'num_chains'),
    ({'num_chains': 2.5}, ValueError, 'num_chains'),
    ({'seed': -1}, ValueError, 'seed'),
    ({'jit_compile': 'yes'}, ValueError, 'jit_compile'),
    ({'jit_compile': None}, ValueError, 'jit_compile'),
    ({'decoder_dtype': tf.int32}, ValueError, 'decoder_dtype'),
    ({'hmc': {'num_leapfrog_steps': 3}}, TypeError, 'HMCSettings'),
])
def test_chain_settings_validate(fields, error, message):
  with pytest.raises(error, match=message):
    tfrd.ChainSettings(**fields)


def test_run_control_defaults_and_validation():
  control = tfrd.RunControl()
  assert control == (None, None, True, 60.0, None, None)
  stop = threading.Event()
  given = tfrd.RunControl(progress=print, checkpoint_dir=REPO, resume=0,
                          checkpoint_interval_s=0, stop=stop)
  assert given.resume is False and given.checkpoint_interval_s == 0.0
  assert given.stop is stop
  with pytest.raises(TypeError, match='progress'):
    tfrd.RunControl(progress='stdout')
  with pytest.raises(TypeError, match='is_set'):
    tfrd.RunControl(stop=True)
  with pytest.raises(ValueError, match='checkpoint_interval_s'):
    tfrd.RunControl(checkpoint_interval_s=-1)
