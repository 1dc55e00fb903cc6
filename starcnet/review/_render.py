# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Pixels to display values for the review page: limits (a percentile
range or fixed values), the stretches and the colour composite, in
numpy alone (the page needs no matplotlib).
"""

import numpy as np

__all__ = ['STRETCHES', 'PERCENTILES', 'apply_stretch', 'display_limits', 'grey_image',
           'rgb_image']

#: Stretches the page offers, each taking values scaled to 0-1 by the
#: display limits to 0-1.
STRETCHES = ('asinh', 'linear', 'sqrt', 'log')
#: Percentiles the page offers for white (black is the median); 100 is
#: the minimum-maximum range.
PERCENTILES = (90.0, 95.0, 99.0, 99.5, 99.9, 100.0)

# softening of asinh and scale of log: those of astropy.visualization's
# AsinhStretch (a=0.1) and LogStretch (a=1000)
_ASINH_A = 0.1
_LOG_A = 1000.0


def apply_stretch(values, stretch):
    """
    Stretch values already scaled to 0-1.

    Parameters
    ----------
    values : array-like
        Values in 0-1 (clipped to it).
    stretch : {'asinh', 'linear', 'sqrt', 'log'}
        ``asinh``: ``asinh(v / 0.1) / asinh(1 / 0.1)``; ``linear``:
        ``v``; ``sqrt``: ``sqrt(v)``; ``log``: ``log(1000 v + 1) /
        log(1001)``.  Each maps 0 to 0 and 1 to 1 and keeps the order.

    Returns
    -------
    stretched : `~numpy.ndarray`
        float64 in 0-1.
    """
    v = np.clip(np.asarray(values, dtype=float), 0.0, 1.0)
    if stretch == 'linear':
        return v
    if stretch == 'sqrt':
        return np.sqrt(v)
    if stretch == 'asinh':
        return np.arcsinh(v / _ASINH_A) / np.arcsinh(1.0 / _ASINH_A)
    if stretch == 'log':
        return np.log1p(_LOG_A * v) / np.log1p(_LOG_A)
    msg = f'stretch must be one of {", ".join(STRETCHES)}, got {stretch!r}'
    raise ValueError(msg)


def display_limits(data, *, percentile=99.5, low=None, high=None):
    """
    The pixel values shown as black and white.

    Parameters
    ----------
    data : array-like
        The pixels shown (non-finite ones are ignored).
    percentile : float, optional
        White is this percentile of the pixels, black their median
        (about the sky level, for a cutout of a source on its
        background); 100 is the range from the minimum to the maximum.
    low, high : float, optional
        Fixed values, in the unit of ``data`` (e-/s), instead of the
        median and the percentile.

    Returns
    -------
    low, high : float
        With ``high > low`` (a flat picture gets ``high = low + 1``).

    Examples
    --------
    >>> import numpy as np
    >>> from starcnet.review._render import display_limits
    >>> display_limits(np.arange(101.0), percentile=90)
    (50.0, 90.0)
    """
    percentile = float(percentile)
    if not 50 < percentile <= 100:
        msg = f'percentile must be above 50 and at most 100, got {percentile:g}'
        raise ValueError(msg)
    values = np.asarray(data, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        plow, phigh = 0.0, 1.0
    elif percentile == 100:
        plow, phigh = float(values.min()), float(values.max())
    else:
        plow, phigh = np.percentile(values, [50.0, percentile])
    lo = float(plow) if low is None else float(low)
    hi = float(phigh) if high is None else float(high)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        msg = f'display limits must be finite numbers, got {lo!r} and {hi!r}'
        raise ValueError(msg)
    if hi <= lo:
        if low is not None and high is not None:
            msg = f'the high display limit ({hi:g}) must be above the low one ({lo:g})'
            raise ValueError(msg)
        hi = lo + 1.0
    return lo, hi


def _scaled(data, stretch, percentile, low, high):
    data = np.asarray(data, dtype=float)
    lo, hi = display_limits(data, percentile=percentile, low=low, high=high)
    out = apply_stretch((data - lo) / (hi - lo), stretch)
    out[~np.isfinite(data)] = 0.0
    # display orientation: y up, as DS9 shows images (array row 0 at the bottom)
    return np.round(out[::-1] * 255).astype(np.uint8), (lo, hi)


def grey_image(data, *, stretch='asinh', percentile=99.5, low=None, high=None):
    """
    A band as a grey picture, y up.

    Parameters
    ----------
    data : 2-D array
        The pixels, row 0 at the lowest y.
    stretch, percentile, low, high
        As in `apply_stretch` and `display_limits`.

    Returns
    -------
    pixels : `~numpy.ndarray`
        uint8 ``(ny, nx)``, row 0 the top (highest y) of the picture;
        non-finite pixels black.
    limits : tuple of float
        The ``(low, high)`` used.
    """
    return _scaled(data, stretch, percentile, low, high)


def rgb_image(red, green, blue, *, stretch='asinh', percentile=99.5, low=None, high=None):
    """
    A colour composite of three bands, each scaled to its own limits.

    Parameters
    ----------
    red, green, blue : 2-D arrays
        One shape; row 0 at the lowest y.
    stretch, percentile, low, high
        As in `grey_image`, for each band; fixed ``low``/``high`` apply
        to the three.

    Returns
    -------
    pixels : `~numpy.ndarray`
        uint8 ``(ny, nx, 3)``, y up.
    limits : list of tuple
        The ``(low, high)`` of each band.
    """
    planes, limits = zip(*(_scaled(band, stretch, percentile, low, high)
                           for band in (red, green, blue)))
    return np.stack(planes, axis=-1), list(limits)
