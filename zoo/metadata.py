"""Metadata of exported decoders: a JSON sidecar beside every `.keras` file.

`apps.train` writes `X.keras` (the decoder) and `X.json`:

    {
      "format": "tfrd.zoo/1",
      "family": "vae",                   # one of zoo.FAMILIES
      "latent_dim": 10,                  # input [B, 10], prior N(0, I)
      "latent_prior": "standard_normal",
      "output_shape": [28, 28, 1],       # output [B, 28, 28, 1]
      "layout": "NHWC",
      "output_range": [0.0, 1.0],
      "observation_variance": 0.012,     # VAE only: the learned sigma^2
      "training_command": "python -m apps.train --family=vae ...",
      "training": {...},                 # every setting, resolved
      ...
    }

The same document is also stored inside the `.keras` archive (as
`tfrd_zoo_metadata.json`, an entry Keras ignores when loading), so a decoder
copied without its sidecar keeps it. `read` prefers the sidecar.
"""

import json
import os
import zipfile

from tfrd import files

__all__ = ['FORMAT', 'EMBEDDED_NAME', 'MetadataError', 'sidecar_path',
           'write', 'read']

FORMAT = 'tfrd.zoo/1'
EMBEDDED_NAME = 'tfrd_zoo_metadata.json'
_REQUIRED = ('format', 'family', 'latent_dim', 'output_shape', 'output_range')


class MetadataError(ValueError):
  """Metadata is missing or malformed; the message says where and why."""


def sidecar_path(model_path):
  """`X.json` for `X.keras`."""
  return os.path.splitext(os.fspath(model_path))[0] + '.json'


def write(model_path, metadata, embed=True):
  """Writes `metadata` beside (and, if `embed`, inside) a `.keras` file.

  Args:
    model_path: the `.keras` file, already saved.
    metadata: JSON-serializable dict; 'format' is set to `FORMAT`.
    embed: also store it inside the archive.

  Returns:
    The sidecar's path.

  Raises:
    MetadataError: if a required entry is missing.
  """
  document = dict(metadata, format=FORMAT)
  missing = [key for key in _REQUIRED if key not in document]
  if missing:
    raise MetadataError(f'Metadata for {model_path} lacks {missing}.')
  text = json.dumps(document, indent=1, sort_keys=True) + '\n'
  if embed:
    with zipfile.ZipFile(model_path, 'a') as archive:
      if EMBEDDED_NAME not in archive.namelist():
        archive.writestr(EMBEDDED_NAME, text)
  path = sidecar_path(model_path)
  with files.atomic_write(path) as stream:
    stream.write(text)
  return path


def read(model_path):
  """The metadata of a zoo decoder: its sidecar, else the embedded copy.

  Args:
    model_path: a `.keras` file written by `apps.train` (or its `.json`).

  Returns:
    dict, with at least 'format', 'family', 'latent_dim', 'output_shape'
    and 'output_range'.

  Raises:
    MetadataError: if neither copy exists or it is not zoo metadata.
  """
  model_path = os.fspath(model_path)
  if model_path.endswith('.json'):
    model_path = model_path[:-len('.json')] + '.keras'
  path = sidecar_path(model_path)
  if os.path.isfile(path):
    source = path
    with open(path) as stream:
      text = stream.read()
  elif os.path.isfile(model_path) and zipfile.is_zipfile(model_path):
    source = f'{model_path}!{EMBEDDED_NAME}'
    with zipfile.ZipFile(model_path) as archive:
      if EMBEDDED_NAME not in archive.namelist():
        raise MetadataError(
            f'{model_path} has no metadata: no sidecar {path} and no '
            f'{EMBEDDED_NAME} inside the archive (was it written by '
            f'apps.train?).')
      text = archive.read(EMBEDDED_NAME).decode('utf-8')
  else:
    raise MetadataError(f'No metadata for {model_path}: neither {path} nor '
                        f'the model file exists.')
  try:
    document = json.loads(text)
  except json.JSONDecodeError as error:
    raise MetadataError(f'{source} is not valid JSON: {error}') from None
  if not isinstance(document, dict) or document.get('format') != FORMAT:
    raise MetadataError(f'{source} is not tfrd zoo metadata (format '
                        f'{FORMAT!r} expected).')
  return document
