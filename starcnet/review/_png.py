# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
A minimal PNG encoder (8-bit grey or RGB, no interlace) on `zlib` and
`struct`, so that the review page needs neither Pillow nor matplotlib.
"""

import struct
import zlib

import numpy as np

__all__ = ['encode_png']

_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_COLOUR_TYPES = {1: 0, 3: 2}        # channels -> PNG colour type (grey, RGB)


def _chunk(kind, data):
    body = kind + data
    return struct.pack('>I', len(data)) + body + struct.pack('>I', zlib.crc32(body))


def encode_png(pixels, *, level=6):
    """
    Encode an image as PNG bytes.

    Parameters
    ----------
    pixels : array-like of uint8
        ``(height, width)`` grey or ``(height, width, 3)`` RGB; row 0 is
        the top of the picture.
    level : int, optional
        zlib compression level, 0-9.

    Returns
    -------
    png : bytes

    Raises
    ------
    ValueError
        If the array is not 2-D or 3-D with 3 channels, is empty, or is
        not of dtype uint8.

    Examples
    --------
    >>> import numpy as np
    >>> from starcnet.review._png import encode_png
    >>> encode_png(np.zeros((2, 3), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        msg = f'PNG pixels must be uint8, got {pixels.dtype}; scale them to 0-255 first'
        raise ValueError(msg)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in _COLOUR_TYPES:
        msg = ('PNG pixels must be (height, width) grey or (height, width, 3) RGB, got '
               f'shape {pixels.shape}')
        raise ValueError(msg)
    height, width, channels = pixels.shape
    if height == 0 or width == 0:
        msg = f'a PNG needs at least one pixel, got shape {pixels.shape}'
        raise ValueError(msg)
    rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    # filter type 0 (none) before every row
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack('>IIBBBBB', width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return (_SIGNATURE + _chunk(b'IHDR', header)
            + _chunk(b'IDAT', zlib.compress(raw, level)) + _chunk(b'IEND', b''))
