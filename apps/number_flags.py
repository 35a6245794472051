"""The numbers of a list flag (--rd_betas=0.1,1,10): one rule for every app."""

from absl import flags

__all__ = ['parse_floats', 'floats_from_flags']

FLAGS = flags.FLAGS


def parse_floats(values, name):
  """`values` (a list flag's strings) as floats, or None when empty.

  Raises:
    ValueError: one line naming flag --`name`, for values that are not
      numbers.
  """
  if not values:
    return None
  try:
    return tuple(float(value) for value in values)
  except ValueError:
    raise ValueError(f'--{name} must be numbers, got {",".join(values)}.'
                     ) from None


def floats_from_flags(name):
  """The values of list flag --`name` as floats (`parse_floats`)."""
  return parse_floats(FLAGS[name].value, name)
