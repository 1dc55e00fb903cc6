# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Vectorised extraction of multi-band cutouts around sources, with the
cutout geometry of the published StarcNet pipeline and an explicit
policy for sources near the edge or on bad pixels.
"""

import enum
import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .legus import CORE, CUTOUT_SIZE
from .normalization import Normalization

__all__ = ['CUTOUT_SIZE', 'CutoutFlag', 'POSITION_COLUMNS', 'position_columns',
           'table_positions', 'check_finite_positions', 'cutout_origin',
           'extract_cutouts', 'image_cutouts', 'normalize']


class CutoutFlag(enum.IntFlag):
    """
    Bit flags of the ``starcnet_flags`` output column.

    A source with ``UNCLASSIFIED`` set has masked class and probability
    columns; any other flag means it was classified from a cutout whose
    bad pixels were filled, or without a band that has no data there
    (``MISSING_BAND``; see `extract_cutouts`).
    """

    #: The cutout extends beyond the image; the missing pixels were filled.
    EDGE = 1
    #: The cutout holds NaN or infinite pixels; they were filled.
    NONFINITE = 2
    #: The cutout holds masked pixels; they were filled.
    MASKED = 4
    #: Not classified: bad pixels in the central 11x11 pixels or more
    #: than ``max_bad_fraction`` of a band's cutout bad.
    UNCLASSIFIED = 8
    #: Not classified: the position lies outside the image.
    OUTSIDE = 16
    #: At least one band has no data over the cutout (all its pixels
    #: non-finite, exactly 0.0 or masked: outside that band's
    #: footprint); the source was classified from the other bands, the
    #: missing band's normalised input set to 0.
    MISSING_BAND = 32
    #: Not classified: the network output for the cutout is not finite
    #: (NaN or infinite weights, or pixel values so extreme that the
    #: network overflows); set with ``UNCLASSIFIED``.
    NONFINITE_OUTPUT = 64
    #: A warning, not a failure: the cutout is unlike the model's
    #: training data (its ``ood_score`` is above the threshold stored with
    #: the model; see `starcnet.models.uncertainty`).  The source keeps
    #: its class; check it by eye.
    OUT_OF_DISTRIBUTION = 128
    #: A warning, not a failure: no source sits at the cutout centre, the
    #: light climbs outwards from it (its
    #: `~starcnet.models.uncertainty.centre_rise` is above the threshold
    #: stored with the model): the position is beside a source rather
    #: than on it (a catalogue or WCS offset), or the candidate is lost in
    #: a brighter neighbour's light.  The source keeps its class; check
    #: its position.
    OFF_CENTRE = 256


#: Accepted 0-based pixel position column pairs, in order of preference:
#: photutils 3, photutils < 3, plain.
POSITION_COLUMNS = (('x_centroid', 'y_centroid'),
                    ('xcentroid', 'ycentroid'),
                    ('x', 'y'))


def position_columns(table, what='table'):
    """
    Names of a table's x and y pixel position columns.

    Parameters
    ----------
    table : `~astropy.table.Table`
    what : str, optional
        How the error message names the table.

    Returns
    -------
    xname, yname : str
        The first pair of `POSITION_COLUMNS` that the table has.

    Raises
    ------
    ValueError
        If it has none.
    """
    for xname, yname in POSITION_COLUMNS:
        if xname in table.colnames and yname in table.colnames:
            return xname, yname
    names = ', '.join(f'{a}/{b}' for a, b in POSITION_COLUMNS)
    msg = (f'the {what} has no pixel positions (no position columns {names}); '
           f'it has {", ".join(table.colnames) or "none"}')
    raise ValueError(msg)


def table_positions(table, what='table'):
    """
    The 0-based pixel positions of a table as float arrays, checked.

    The one position parser of the package (the classifier, training,
    metrics, regions and plots use it), with one strictness: plain
    numbers and columns in pixels (``u.pix``) or without a unit are
    accepted; masked values, other units and non-finite values are
    errors that name the rows or the unit to fix.

    Parameters
    ----------
    table : `~astropy.table.Table`
        A table with a pair of `POSITION_COLUMNS`.
    what : str, optional
        How the error message names the table.

    Returns
    -------
    x, y : `~numpy.ndarray`
        float64 arrays.

    Raises
    ------
    ValueError
        If the table has no position columns, a position is masked,
        not finite or in a unit other than pixels.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.table import QTable
    >>> from starcnet.cutouts import table_positions
    >>> table_positions(QTable({'x': [1.5, 2.0] * u.pix, 'y': [3.0, 4.0]}))
    (array([1.5, 2. ]), array([3., 4.]))
    """
    xname, yname = position_columns(table, what)
    x = _pixel_values(table[xname], xname, what)
    y = _pixel_values(table[yname], yname, what)
    check_finite_positions(x, y, what)
    return x, y


def _rows(rows):
    """At most ten row numbers, for an error message."""
    return ', '.join(map(str, rows[:10])) + (', ...' if rows.size > 10 else '')


def _pixel_values(column, name, what):
    """float64 values of a position column in pixels (masked values refused)."""
    mask = getattr(column, 'mask', None)   # MaskedColumn or Masked quantity
    if mask is not None and np.any(mask):
        rows = np.flatnonzero(np.asarray(mask))
        msg = (f'position column {name!r} of the {what} has {rows.size} masked '
               f'value(s) (rows {_rows(rows)}); remove those rows or give them '
               'positions')
        raise ValueError(msg)
    unit = getattr(column, 'unit', None)
    if unit is not None and not _is_pixel_unit(unit):
        msg = (f'position column {name!r} of the {what} must be in pixels '
               f'(u.pix or no unit), got unit {unit}')
        raise ValueError(msg)
    value = getattr(column, 'unmasked', column)
    value = getattr(value, 'value', value)
    return np.array(np.ma.getdata(value), dtype=float).reshape(-1)


def _is_pixel_unit(unit):
    import astropy.units as u

    try:
        unit = u.Unit(unit)
    except ValueError:
        return False
    return unit in (u.pix, u.dimensionless_unscaled)


def check_finite_positions(x, y, what='table'):
    """
    Refuse non-finite pixel positions, naming the rows.

    Parameters
    ----------
    x, y : `~numpy.ndarray`
        0-based pixel positions.
    what : str, optional
        How the error message names where they came from.

    Raises
    ------
    ValueError
        If any ``x`` or ``y`` is NaN or infinite.
    """
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        rows = np.flatnonzero(bad)
        msg = (f'{rows.size} source position(s) are not finite (rows '
               f'{_rows(rows)}) in the {what}; remove those rows or give them '
               'valid positions')
        raise ValueError(msg)


def cutout_origin(x, y, size=CUTOUT_SIZE):
    """
    Array indices of the first row and column of each source's cutout.

    For a source at 0-based pixel position ``(x, y)`` (photutils and
    numpy convention: the centre of the first pixel is 0) the cutout is
    ``data[iy:iy + size, ix:ix + size]`` with ``ix = floor(x) - size//2
    + 1``.  For ``size=32`` this is exactly the published StarcNet
    cutout ``data[int(Y) - 16:int(Y) + 16, int(X) - 16:int(X) + 16]``
    taken at the 1-based catalog position ``(X, Y) = (x + 1, y + 1)``
    of the LEGUS catalogs, and the source lies within half a pixel of
    the cutout centre.

    Parameters
    ----------
    x, y : array-like
        0-based pixel positions.
    size : int
        Cutout side.

    Returns
    -------
    ix, iy : `~numpy.ndarray` of int64

    Notes
    -----
    Positions beyond ``±2**52`` pixels (far outside any image; int64
    holds no more than about ``±9.2e18``) are clipped to ``±2**52``
    first, and NaN or infinite ones count as ``+2**52``, so that every
    such source lies outside the image (`CutoutFlag.OUTSIDE` in
    `extract_cutouts`; the table parsers refuse non-finite positions).
    """
    offset = size // 2 - 1
    return _origin(x, offset), _origin(y, offset)


#: Positions are clipped to this many pixels either side (exact in
#: float64, far from the int64 limit).
_POSITION_LIMIT = float(2 ** 52)


def _origin(position, offset):
    value = np.floor(np.asarray(position, dtype=float))
    value = np.where(np.isfinite(value), value, _POSITION_LIMIT)
    value = np.clip(value, -_POSITION_LIMIT, _POSITION_LIMIT)
    return value.astype(np.int64) - offset


def extract_cutouts(arrays, x, y, *, masks=None, size=CUTOUT_SIZE,
                    max_bad_fraction=0.5, return_missing=False, scales=None):
    """
    Cut square multi-band cutouts around sources, all at once.

    Only the pixels of the cutouts are read, so memory-mapped arrays
    stay on disk.

    Parameters
    ----------
    arrays : sequence of 2-D arrays
        One image per band, all of one shape, in the order the network
        expects.
    x, y : array-like
        0-based pixel positions of the sources (see `cutout_origin`).
    masks : sequence of 2-D bool arrays or None, optional
        Per-band masks (`True` = bad pixel), or `None`.
    size : int, optional
        Cutout side in pixels.
    max_bad_fraction : float, optional
        A source is not classified if, in any band, more than this
        fraction of its cutout is outside the image, non-finite or
        masked (bands with no data at all are not counted: see Notes).
    return_missing : bool, optional
        Also return which bands of each source have no data.
    scales : sequence of float, optional
        The factor each band's cutouts will be multiplied by (e.g. to
        e-/s, as `image_cutouts` does); a pixel whose value times its
        band's factor is not a finite float32 counts as non-finite.
        The cutouts returned are not scaled.

    Returns
    -------
    cutouts : `~numpy.ndarray`
        float32 array of shape ``(N, n_bands, size, size)``.
    flags : `~numpy.ndarray`
        int16 `CutoutFlag` bits per source.
    missing : `~numpy.ndarray`
        Only with ``return_missing=True``: bool ``(N, n_bands)``, `True`
        where a band has no data over the cutout; pass it on to
        `~starcnet.normalization.Normalization.apply`.

    Notes
    -----
    Policy for bad pixels (outside the image, NaN/inf, masked): each is
    replaced by the median of the good pixels of the same band in the
    same cutout and the source is flagged (`CutoutFlag.EDGE`,
    `CutoutFlag.NONFINITE`, `CutoutFlag.MASKED`).  A source whose
    central 11x11 pixels (what the network's smallest scale sees) hold
    any bad pixel, or with more than ``max_bad_fraction`` of a band
    bad, is flagged `CutoutFlag.UNCLASSIFIED` and its class is left
    masked; so is a source whose position is outside the image
    (`CutoutFlag.OUTSIDE`), including positions that are not finite or
    beyond the int64 range (see `cutout_origin`).  Pixel values beyond
    the float32 range (or beyond it once multiplied by ``scales``)
    count as non-finite.

    Raises
    ------
    ValueError
        If the images are not 2-D or have no pixels (a 0x0 image), or
        ``x`` and ``y`` differ in shape.

    Missing bands: a band whose pixels inside the image are, over the
    whole cutout, all non-finite, all exactly 0.0 (drizzled mosaics
    outside a band's footprint), or all masked (e.g. a zero weight map
    given as the mask), or any mix of these, has no data there.  Its
    cutout is set to 0, the source is flagged `CutoutFlag.MISSING_BAND`
    (not ``NONFINITE`` / ``MASKED`` for that band) and the band does not
    count towards ``UNCLASSIFIED``: the source is classified from the
    other bands (with the missing band's normalised input set to 0),
    unless every band is missing or the rules above, applied to the
    bands with data, say otherwise.
    """
    arrays = list(arrays)
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    if x.shape != y.shape or x.ndim != 1:
        msg = f'x and y must be 1-D and of one length, got {x.shape} and {y.shape}'
        raise ValueError(msg)
    n, n_bands = x.size, len(arrays)
    if not n_bands:
        msg = 'no images to cut: give at least one band'
        raise ValueError(msg)
    shape = np.shape(arrays[0])
    if len(shape) != 2 or 0 in shape:
        msg = (f'the images must be 2-D with at least one pixel, got shape '
               f'{shape}; check the file or HDU')
        raise ValueError(msg)
    ny, nx = shape
    if scales is None:
        scales = np.ones(n_bands)
    scales = np.asarray(scales, dtype=np.float32).reshape(-1)
    if scales.size != n_bands:
        msg = f'scales must have one factor per band ({n_bands}), got {scales.size}'
        raise ValueError(msg)
    cutouts = np.empty((n, n_bands, size, size), dtype=np.float32)
    flags = np.zeros(n, dtype=np.int16)
    missing = np.zeros((n, n_bands), dtype=bool)
    if n == 0:
        return (cutouts, flags, missing) if return_missing else (cutouts, flags)

    ix, iy = cutout_origin(x, y, size)
    # Cutouts wholly inside the image (nearly all) are copied as windows
    # of the band, 32 rows of 32 contiguous pixels each; the few on an
    # edge go through clipped fancy indexing and are then filled.
    interior = (ix >= 0) & (iy >= 0) & (ix + size <= nx) & (iy + size <= ny)
    core = np.flatnonzero(interior)
    edge = np.flatnonzero(~interior)
    flags[edge] |= CutoutFlag.EDGE
    cx, cy = np.floor(x), np.floor(y)
    outside = ~((cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny))   # NaN: outside
    flags[outside] |= CutoutFlag.OUTSIDE | CutoutFlag.UNCLASSIFIED
    if edge.size:
        steps = np.arange(size)
        rows = iy[edge, None] + steps
        cols = ix[edge, None] + steps
        inside = (((rows >= 0) & (rows < ny))[:, :, None]
                  & ((cols >= 0) & (cols < nx))[:, None, :])
        rows = np.clip(rows, 0, ny - 1)[:, :, None]
        cols = np.clip(cols, 0, nx - 1)[:, None, :]

    def cut_band(data, out):
        # float64 values beyond the float32 range become inf: non-finite
        with np.errstate(over='ignore'):
            if core.size:
                windows = sliding_window_view(np.asarray(data), (size, size))
                out[core] = windows[iy[core], ix[core]]
            if edge.size:
                out[edge] = data[rows, cols]
        return out

    unclassified = outside.copy()
    for b, data in enumerate(arrays):
        cut = cut_band(data, cutouts[:, b])
        bad = ~np.isfinite(cut)
        if scales[b] != 1:
            # finite here, but not once in e-/s: bad as well
            with np.errstate(over='ignore', invalid='ignore'):
                bad |= ~np.isfinite(cut * scales[b])
        masked = None
        if masks is not None and masks[b] is not None:
            masked = cut_band(masks[b], np.empty(cut.shape, dtype=bool))
        # no data: no in-image pixel that is finite, unmasked and not 0.0
        nodata = bad | (cut == 0)
        if masked is not None:
            nodata |= masked
        if edge.size:
            nodata[edge] |= ~inside
        absent = nodata.all(axis=(1, 2)) & ~outside
        missing[:, b] = absent
        if absent.any():
            cut[absent] = 0.0
            bad[absent] = False
            if masked is not None:
                masked[absent] = False
        if edge.size:
            bad[edge] &= inside
        flags[bad.any(axis=(1, 2))] |= CutoutFlag.NONFINITE
        if masked is not None:
            if edge.size:
                masked[edge] &= inside
            flags[masked.any(axis=(1, 2))] |= CutoutFlag.MASKED
            bad |= masked
        if edge.size:
            bad[edge] |= ~inside
            bad[absent] = False
        has_bad = np.flatnonzero(bad.any(axis=(1, 2)))
        if not has_bad.size:
            continue
        bad = bad[has_bad]
        unclassified[has_bad] |= bad[:, CORE, CORE].any(axis=(1, 2))
        unclassified[has_bad] |= bad.mean(axis=(1, 2)) > max_bad_fraction
        sub = np.where(bad, np.nan, cut[has_bad])
        with warnings.catch_warnings():
            # all-bad cutouts give NaN here; they are unclassified.
            warnings.simplefilter('ignore', RuntimeWarning)
            fill = np.nanmedian(sub, axis=(1, 2))
        fill = np.where(np.isfinite(fill), fill, 0.0).astype(np.float32)
        cut[has_bad] = np.where(bad, fill[:, None, None], cut[has_bad])
    any_missing = missing.any(axis=1)
    flags[any_missing] |= CutoutFlag.MISSING_BAND
    unclassified |= missing.all(axis=1)
    flags[unclassified] |= CutoutFlag.UNCLASSIFIED
    return (cutouts, flags, missing) if return_missing else (cutouts, flags)


def image_cutouts(image, x, y, *, bands=None, size=CUTOUT_SIZE,
                  max_bad_fraction=0.5, use_masks=True):
    """
    Cutouts of a multi-band image in electrons per second.

    The one way from a `~starcnet.MultiBandImage` to cutouts: the bands
    are cut with `extract_cutouts` (only the pixels of the cutouts are
    read, so memory-mapped bands stay on disk; call it on chunks of
    positions to keep memory flat) and each band's factor to e-/s
    (``1 / EXPTIME`` for a band in electrons, 1 for one in e-/s; see
    `~starcnet.MultiBandImage.band_arrays`) is applied here, once.

    Parameters
    ----------
    image : `~starcnet.MultiBandImage`, dict or list
        The bands (anything `~starcnet.MultiBandImage` takes).
    x, y : array-like
        0-based pixel positions (see `cutout_origin`).
    bands : sequence of str, optional
        The image bands to cut, in the order wanted (e.g. the values of
        `~starcnet.MultiBandImage.match_bands`).  Default: all bands.
    size : int, optional
        Cutout side in pixels.
    max_bad_fraction : float, optional
        As in `extract_cutouts`.
    use_masks : bool, optional
        Treat the image's masked pixels as bad (default).  `False` cuts
        the pixels as they are (e.g. to show them).

    Returns
    -------
    cutouts : `~numpy.ndarray`
        float32 ``(N, n_bands, size, size)`` in e-/s.
    flags : `~numpy.ndarray`
        int16 `CutoutFlag` bits per source.
    missing : `~numpy.ndarray`
        bool ``(N, n_bands)``, `True` where a band has no data over the
        cutout (see `extract_cutouts`).

    Examples
    --------
    >>> import numpy as np
    >>> from starcnet import MultiBandImage
    >>> from starcnet.cutouts import image_cutouts
    >>> image = MultiBandImage({'F555W': np.ones((64, 64), np.float32)})
    >>> cutouts, flags, missing = image_cutouts(image, [31.0], [31.0])
    >>> cutouts.shape, int(flags[0]), bool(missing[0, 0])
    ((1, 1, 32, 32), 0, False)
    """
    from .images import MultiBandImage

    if not isinstance(image, MultiBandImage):
        image = MultiBandImage(image)
    arrays, masks, scales = image.band_arrays(bands)
    cutouts, flags, missing = extract_cutouts(
        arrays, x, y, masks=masks if use_masks else None, size=size,
        max_bad_fraction=max_bad_fraction, return_missing=True, scales=scales)
    # to e-/s here, cutout by cutout, so the bands are never scaled whole
    # (pixels that would overflow were taken as bad and filled above)
    if np.any(scales != 1):
        cutouts *= scales[None, :, None, None]
    return cutouts, flags, missing


def normalize(cutouts, normalization, missing=None):
    """
    Apply a model's per-band input normalisation to cutouts.

    A shorthand of
    ``Normalization.from_metadata(normalization).apply(cutouts, missing)``
    (see `starcnet.normalization.Normalization`).

    Parameters
    ----------
    cutouts : `~numpy.ndarray`
        Array of shape ``(N, n_bands, ny, nx)`` in electrons per second.
    normalization : `~starcnet.normalization.Normalization` or dict
        The normalisation or its metadata dict, e.g. ``{'kind':
        'affine', 'offset': [...], 'scale': [...]}``.
    missing : array-like of bool, optional
        ``(N, n_bands)``, `True` for bands without data (their
        normalised input is 0).

    Returns
    -------
    normalized : `~numpy.ndarray`
        A new float32 array; the input is not modified.
    """
    return Normalization.from_metadata(normalization).apply(np.asarray(cutouts), missing)
