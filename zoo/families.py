"""The model families of the zoo and `build_model`, which assembles one.

    model = zoo.build_model('wgan_gp', image_shape=(28, 28, 1), latent_dim=10)
    # or deeper, narrower networks:
    model = zoo.build_model('vae', (28, 28, 1), 10,
                            zoo.Networks(depth='deep', width=256))
    model.compile()                      # the family's optimizer recipe
    model.fit(images, batch_size=64, epochs=5)
    model.decoder.save('wgan_gp.keras')  # for apps.rd_curve

(`apps.train` does this with exact resumption, sample grids and metadata.)
"""

import collections

from zoo import aae
from zoo import architectures
from zoo import entropic_gan
from zoo import fgan
from zoo import gan
from zoo import sngan
from zoo import vae
from zoo import wae
from zoo import wgan

__all__ = ['FAMILIES', 'DESCRIPTIONS', 'Networks', 'build_model', 'recipe']

DESCRIPTIONS = {
    'vae': 'VAE, Gaussian decoder with a learned global variance',
    'gan': 'GAN, non-saturating loss (optional R1 penalty), Adam 2e-4 / 0.5',
    'aae': 'adversarial autoencoder, discriminator on the codes',
    'wae': 'Wasserstein autoencoder, MMD (IMQ kernel) or GAN penalty',
    'wgan': 'WGAN, weight clipping 0.01, RMSProp 5e-5, 5 critic steps',
    'wgan_gp': 'WGAN-GP, lambda 10, 5 critic steps, Adam 1e-4 (0, 0.9)',
    'sngan': 'SN-GAN, spectrally normalized discriminator, hinge loss',
    'fgan': 'f-GAN: kl, reverse_kl, pearson, hellinger or js divergence',
    'entropic_gan': 'entropic GAN, squared-error loss, dual critics',
}
FAMILIES = tuple(DESCRIPTIONS)
_CLASSES = {'vae': vae.VAE, 'gan': gan.GAN, 'aae': aae.AAE, 'wae': wae.WAE,
            'wgan': wgan.WGAN, 'wgan_gp': wgan.WGANGP, 'sngan': sngan.SNGAN,
            'fgan': fgan.FGAN, 'entropic_gan': entropic_gan.EntropicGAN}

# Width of the discriminators on codes (AAE, WAE-GAN) when not given.
_LATENT_DISCRIMINATOR_WIDTH = 512


class Networks(
    collections.namedtuple('Networks', ['architecture', 'depth', 'width'])):
  """The networks a model is built from (decoder, encoder, discriminators).

  Attributes:
    architecture: 'auto', 'mlp' or 'dcgan' (see
      `architectures.resolve_architecture`: 'auto' is DCGAN for 32×32×3
      images, MLPs otherwise).
    depth: MLP depth, 'shallow' (one hidden layer, appendix D.1) or 'deep'
      (three).
    width: hidden units (MLP) or base filters (DCGAN) of every network; the
      architecture's default (1024 or 64) if None. Small widths make tests
      fast.
  """
  __slots__ = ()

  def __new__(cls, architecture='auto', depth='shallow', width=None):
    architectures.num_hidden_layers(depth)  # Validates depth early.
    if width is not None and (isinstance(width, bool) or
                              int(width) != width or width < 1):
      raise ValueError(f'width must be a positive integer or None, got '
                       f'{width!r}.')
    return super().__new__(cls, architecture, depth,
                           None if width is None else int(width))


def recipe(family):
  """The optimizers `family` trains with: name -> `zoo.OptimizerRecipe`.

  Each entry names its source (appendix D.1 of Huang et al. where it gives
  one, else the paper that introduced the family); a model records its own
  in its metadata (`GenerativeModel.recipe_record`). The WAE's
  'discriminator' is used with its GAN penalty only.

  Raises:
    ValueError: for an unknown family.
  """
  if family not in _CLASSES:
    raise ValueError(f'Unknown model family {family!r}; choose one of '
                     f'{", ".join(FAMILIES)}.')
  return dict(_CLASSES[family].RECIPE)


def build_model(family, image_shape, latent_dim, networks=None, seed=0,
                divergence='js', wae_penalty='mmd',
                entropic_regularization=0.1, gan_r1_weight=0.0):
  """Builds an uncompiled model of `family` for images of `image_shape`.

  Decoders, encoders and discriminators come from `zoo.architectures`: MLPs
  of the given depth (appendix D.1) or, for 32×32×3 images, DCGAN networks.

  Args:
    family: one of `FAMILIES`.
    image_shape: (H, W, C) of the training images.
    latent_dim: code size D.
    networks: a `Networks` (architecture, MLP depth, width); `Networks()`
      (automatic architecture, shallow, the default width) if None.
    seed: seed of the noise drawn during training (weights are initialized
      from Keras's global seed: call `keras.utils.set_random_seed` first).
    divergence: the f-GAN divergence.
    wae_penalty: 'mmd' or 'gan'.
    entropic_regularization: λ of the entropic GAN.
    gan_r1_weight: γ of the GAN's R1 penalty on data (0: none).

  Returns:
    A `zoo.base.GenerativeModel`.

  Raises:
    ValueError: for an unknown family or invalid settings.
  """
  if family not in DESCRIPTIONS:
    raise ValueError(f'Unknown model family {family!r}; choose one of '
                     f'{", ".join(FAMILIES)}.')
  networks = Networks() if networks is None else networks
  image_shape = tuple(int(d) for d in image_shape)
  architecture = architectures.resolve_architecture(networks.architecture,
                                                    image_shape)
  depth, width = networks.depth, networks.width

  def decoder():
    return architectures.decoder(architecture, latent_dim, image_shape,
                                 depth=depth, width=width)

  def discriminator(name='discriminator', spectral_norm=False):
    return architectures.discriminator(architecture, image_shape, depth=depth,
                                       width=width,
                                       spectral_norm=spectral_norm, name=name)

  def encoder(num_outputs):
    return architectures.encoder(architecture, image_shape, num_outputs,
                                 depth=depth, width=width)

  def latent_discriminator():
    return architectures.latent_discriminator(
        latent_dim, width=width or _LATENT_DISCRIMINATOR_WIDTH)

  if family == 'vae':
    return vae.VAE(decoder(), encoder(2 * latent_dim), seed=seed)
  if family == 'gan':
    return gan.GAN(decoder(), discriminator(), r1_weight=gan_r1_weight,
                   seed=seed)
  if family == 'aae':
    return aae.AAE(decoder(), encoder(latent_dim), latent_discriminator(),
                   seed=seed)
  if family == 'wae':
    return wae.WAE(decoder(), encoder(latent_dim), penalty=wae_penalty,
                   latent_discriminator=(latent_discriminator()
                                         if wae_penalty == 'gan' else None),
                   seed=seed)
  if family == 'wgan':
    return wgan.WGAN(decoder(), discriminator('critic'), seed=seed)
  if family == 'wgan_gp':
    return wgan.WGANGP(decoder(), discriminator('critic'), seed=seed)
  if family == 'sngan':
    return sngan.SNGAN(decoder(), discriminator(spectral_norm=True),
                       seed=seed)
  if family == 'fgan':
    return fgan.FGAN(decoder(), discriminator(), divergence=divergence,
                     seed=seed)
  return entropic_gan.EntropicGAN(
      decoder(), discriminator('critic_data'),
      discriminator('critic_samples'),
      regularization=entropic_regularization, seed=seed)
