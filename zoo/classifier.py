"""An MNIST classifier whose hidden features define a perceptual distortion.

§6.3 of Huang et al. (2020) measures distortion as the squared error between
deep features of a CNN trained to classify MNIST (Fig. 6). This module trains
such a network and cuts it at its penultimate layer:

    classifier = zoo.classifier.train_classifier(images, labels, epochs=2)
    features = zoo.classifier.feature_extractor(classifier)
    distortion = tfrd.DeepFeatureDistortion(features, (28, 28, 1))

The network is small on purpose: AIS differentiates the distortion, hence
the feature extractor, once per leapfrog step, so its cost adds to the
decoder's. Two strided convolutions and one hidden layer of `FEATURES` units
cost about 0.36 M multiply-adds per image, under half of the shallow MLP
decoder's 0.81 M (appendix D.1), and still classify MNIST well (the accuracy
is measured and recorded by `apps.reproduce`, not assumed).

Training is Keras's `fit` with a fixed seed and deterministic ops, not
`zoo.training.Trainer`: a classifier is not a generative model, and two
epochs on 10,000 images take well under a minute on 2 cores, so an
interrupted training starts again rather than resuming.
"""

import keras
import numpy as np

__all__ = ['FEATURES', 'build_classifier', 'feature_extractor',
           'train_classifier', 'accuracy']

# Width of the penultimate layer: the features of the distortion.
FEATURES = 64
# The name of that layer, where `feature_extractor` cuts the network.
FEATURE_LAYER = 'features'


def build_classifier(image_shape=(28, 28, 1), num_classes=10, seed=0):
  """An uncompiled CNN: images [B, *image_shape] in [0, 1] -> logits.

  Args:
    image_shape: (height, width, channels).
    num_classes: number of classes.
    seed: seed of the initial weights.

  Returns:
    A `keras.Model` whose layer `FEATURE_LAYER` holds the features.
  """
  initializer = lambda offset: keras.initializers.GlorotUniform(seed + offset)
  inputs = keras.Input(tuple(image_shape))
  hidden = keras.layers.Conv2D(16, 3, strides=2, padding='same',
                               activation='relu',
                               kernel_initializer=initializer(0))(inputs)
  hidden = keras.layers.Conv2D(32, 3, strides=2, padding='same',
                               activation='relu',
                               kernel_initializer=initializer(1))(hidden)
  hidden = keras.layers.Flatten()(hidden)
  features = keras.layers.Dense(FEATURES, activation='relu',
                                kernel_initializer=initializer(2),
                                name=FEATURE_LAYER)(hidden)
  logits = keras.layers.Dense(num_classes, kernel_initializer=initializer(3),
                              name='logits')(features)
  return keras.Model(inputs, logits, name='mnist_classifier')


def train_classifier(images, labels, epochs=2, batch_size=64, seed=0):
  """Trains `build_classifier` on images [N, H, W, C] and labels [N].

  Args:
    images: float array in [0, 1].
    labels: integer class indices.
    epochs: passes over the data.
    batch_size: images per step.
    seed: seeds the weights and the shuffling (with deterministic ops, the
      same call gives the same network).

  Returns:
    The trained `keras.Model` (logits).

  Raises:
    ValueError: for images and labels of different lengths, or an epoch or
      batch size below 1.
  """
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels)
  if images.shape[0] != labels.shape[0]:
    raise ValueError(f'{images.shape[0]} images but {labels.shape[0]} '
                     f'labels; give one label per image.')
  if epochs < 1 or batch_size < 1:
    raise ValueError(f'epochs and batch_size must be >= 1, got {epochs} and '
                     f'{batch_size}.')
  keras.utils.set_random_seed(seed)
  model = build_classifier(images.shape[1:], int(labels.max()) + 1, seed)
  model.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True))
  model.fit(images, labels, batch_size=batch_size, epochs=epochs,
            shuffle=True, verbose=0)
  return model


def accuracy(classifier, images, labels):
  """The fraction of `images` the classifier labels right."""
  logits = classifier.predict(np.asarray(images, np.float32), verbose=0)
  return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(labels)))


def feature_extractor(classifier):
  """The classifier up to its `FEATURE_LAYER`: images -> features [B, F]
  (the φ of `tfrd.DeepFeatureDistortion`)."""
  return keras.Model(classifier.inputs[0],
                     classifier.get_layer(FEATURE_LAYER).output,
                     name='mnist_features')
