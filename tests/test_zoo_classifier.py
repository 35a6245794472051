"""zoo.classifier: it learns a task with a known answer, is reproducible, and
its features make a deep-feature distortion."""

import numpy as np
import pytest

import tfrd
from zoo import classifier


def _two_classes(count, seed):
  """Images lit in the top half (class 0) or the bottom half (class 1), with
  noise: a task any working classifier gets entirely right."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, count)
  images = rng.uniform(0.0, 0.3, (count, 28, 28, 1)).astype(np.float32)
  for image, label in zip(images, labels):
    image[14 * label:14 * (label + 1)] += 0.7
  return images, labels


def test_learns_a_separable_task_and_is_reproducible():
  images, labels = _two_classes(256, 0)
  model = classifier.train_classifier(images, labels, epochs=3, seed=1)
  test_images, test_labels = _two_classes(64, 1)
  assert classifier.accuracy(model, test_images, test_labels) == 1.0
  again = classifier.train_classifier(images, labels, epochs=3, seed=1)
  for ours, theirs in zip(model.get_weights(), again.get_weights()):
    np.testing.assert_array_equal(ours, theirs)


def test_features_define_a_distortion():
  images, labels = _two_classes(64, 2)
  model = classifier.train_classifier(images, labels, epochs=1)
  features = classifier.feature_extractor(model)
  assert tuple(features(images[:3]).shape) == (3, classifier.FEATURES)
  distortion = tfrd.DeepFeatureDistortion(features, (28, 28, 1))
  flat = images[:4].reshape(4, -1).astype(np.float64)
  prepared = distortion.prepare(flat)
  np.testing.assert_allclose(distortion(prepared, flat), 0.0, atol=1e-9)
  # Swapping the classes' images moves the features.
  swapped = distortion(prepared, flat[::-1]).numpy()
  assert np.all(swapped[labels[:4] != labels[:4][::-1]] > 0)


def test_refuses_mismatched_labels():
  images, labels = _two_classes(8, 3)
  with pytest.raises(ValueError, match='8 images but 7 labels'):
    classifier.train_classifier(images, labels[:7])
