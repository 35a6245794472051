"""zoo: the generative models whose rate-prior distortion curves tfrd measures.

Keras 3 models with custom `train_step`s, one module per family:

- `VAE` (Gaussian decoder, learned global variance), `AAE`, `WAE` (MMD or
  GAN penalty);
- `GAN` (non-saturating), `WGAN` (weight clipping), `WGANGP` (gradient
  penalty), `SNGAN` (spectral normalization), `FGAN` (five f-divergences),
  `EntropicGAN` (entropy-regularized optimal transport, with its surrogate
  likelihood).

Networks (`zoo.architectures`): the MLP decoders of Huang et al.'s appendix
D.1 for 28×28×1 images (shallow: one hidden layer of 1024, deep: three; any
code size) and DCGAN generators for 32×32×3. Every decoder maps codes
[B, D] ~ N(0, I) to images [B, H, W, C] in [0, 1] and is built from Keras
layers only, so its `.keras` file is what `apps.rd_curve --model=...`
evaluates, with nothing else to import.

- `build_model(family, image_shape, latent_dim, networks, ...)` assembles a
  model, its networks chosen by `Networks(architecture, depth, width)`;
  `FAMILIES` lists the names. `recipe(family)`: the optimizers it trains
  with, each `OptimizerRecipe` naming its source (appendix D.1 where it
  gives one); every model's metadata records them.
- `training.Trainer`: epochs with exact resumption (`tf.train.Checkpoint`).
- `metadata.read(path)`: the JSON sidecar of a decoder saved by `apps.train`.
- `pretrained.path(name)`, `pretrained.DEFAULT`: small trained MNIST
  decoders shipped with the package.
- `classifier`: a small MNIST CNN whose hidden features define the
  deep-feature distortion of §6.3 (`classifier.feature_extractor`).
- `entropic_gan.surrogate_log_likelihood`: the entropic GAN's sample
  likelihood, to compare with tfrd's log Z at β = 1/λ.

Train from the command line with `python -m apps.train`.
"""

from zoo import architectures
from zoo import classifier
from zoo import images
from zoo import metadata
from zoo import pretrained
from zoo import synthetic
from zoo import training
from zoo.aae import AAE
from zoo.base import GenerativeModel
from zoo.base import OptimizerRecipe
from zoo.entropic_gan import EntropicGAN
from zoo.families import build_model
from zoo.families import DESCRIPTIONS
from zoo.families import FAMILIES
from zoo.families import Networks
from zoo.families import recipe
from zoo.fgan import DIVERGENCES
from zoo.fgan import FGAN
from zoo.gan import GAN
from zoo.sngan import SNGAN
from zoo.spectral_norm import SpectralNormConv2D
from zoo.spectral_norm import SpectralNormDense
from zoo.vae import VAE
from zoo.wae import WAE
from zoo.wgan import WGAN
from zoo.wgan import WGANGP

__all__ = [
    'AAE', 'DESCRIPTIONS', 'DIVERGENCES', 'EntropicGAN', 'FAMILIES', 'FGAN',
    'GAN', 'GenerativeModel', 'Networks', 'OptimizerRecipe', 'SNGAN', 'SpectralNormConv2D',
    'SpectralNormDense', 'VAE', 'WAE', 'WGAN', 'WGANGP', 'architectures',
    'build_model', 'classifier', 'images', 'metadata', 'pretrained',
    'recipe', 'synthetic', 'training',
]
