"""The AAE's recipe: its adversary neither collapses nor wins.

An oracle by construction: an adversarial autoencoder that works pushes
its aggregate posterior (the codes of the training images) to the prior
N(0, I), and its two adversarial losses stay near the game's equilibrium
(2 log 2 for the discriminator, log 2 for the encoder). The recipe that
zoo/aae.py replaced failed exactly this at this size: its codes spread to
a standard deviation of about 9 and the discriminator's loss fell towards
zero while the encoder's rose past 6.
"""

import math

import numpy as np
import pytest

from adapters import datasets

keras = pytest.importorskip('keras')
import zoo  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope='module')
def mnist():
  """2048 MNIST training images (TFDS, offline from $TFRD_DATA_DIR)."""
  try:
    return datasets.load_dataset('mnist', 2048, split='train').reshape(
        -1, 28, 28, 1).astype(np.float32)
  except datasets.DatasetError as error:
    pytest.skip(f'MNIST not available: {error}')


def test_recipe_keeps_the_codes_on_the_prior(mnist):
  # 320 steps (10 epochs of 32 batches of 64) of a width-256 AAE-10: about
  # 15 s on 2 CPU cores.
  keras.utils.set_random_seed(0)
  model = zoo.build_model('aae', (28, 28, 1), 10, zoo.Networks(width=256))
  model.compile()
  history = model.fit(mnist, batch_size=64, epochs=10, verbose=0).history
  codes = model.encoder(mnist).numpy()
  # The aggregate posterior's moments, per dimension, against N(0, 1) (the
  # means wander by a few tenths as the adversaries play; a lost game
  # spreads the codes several times wider).
  means = np.abs(codes.mean(axis=0))
  assert means.mean() < 0.75 and np.all(means < 1.5), means
  assert np.all((codes.std(axis=0) > 0.5) & (codes.std(axis=0) < 2.0)), (
      codes.std(axis=0))
  # Neither adversary runs away over the last epochs.
  for epoch in range(-3, 0):
    assert history['d_loss'][epoch] > 0.5 * 2 * math.log(2), history
    assert history['e_loss'][epoch] < 3 * math.log(2), history
  # The reconstruction still learns.
  assert history['reconstruction'][-1] < history['reconstruction'][0]


def test_recipe_is_recorded_with_its_sources():
  model = zoo.build_model('aae', (28, 28, 1), 2, zoo.Networks(width=8))
  model.compile()
  recipe = model.recipe_record()
  assert recipe == {name: entry._asdict()
                    for name, entry in zoo.recipe('aae').items()}
  assert set(recipe) == set(model.optimizers)
  for name, optimizer in model.optimizers.items():
    assert float(optimizer.learning_rate) == pytest.approx(
        recipe[name]['learning_rate'])
    assert recipe[name]['source']
