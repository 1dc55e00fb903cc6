# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Readers for star-cluster candidate catalogs: the published LEGUS cluster
catalogs (``.tab``) and Source Extractor catalogs (``ASCII_HEAD`` and
``FITS_LDAC``).

Every reader returns a `~astropy.table.QTable` with 0-based pixel
positions in ``x`` and ``y`` (the photutils and numpy convention: the
centre of the first pixel is 0), which `~starcnet.StarClusterClassifier`
takes as they are, and ``sky_centroid`` where the catalog has sky
positions.
"""

import os
import re
import warnings

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import MaskedColumn, QTable
from astropy.utils.masked import Masked

from .exceptions import StarcnetWarning
from .legus import BANDS, MAG_NOT_DETECTED, MAG_OUTSIDE_FOOTPRINT

__all__ = ['LEGUS_BANDS', 'LEGUS_CLASS_COLUMNS', 'read_legus', 'read_sextractor']

#: Nominal bands of the five LEGUS magnitude columns, in catalog order
#: (`starcnet.legus.BANDS`).  On ACS fields (``acs-wfc3`` catalogs) the
#: third and fourth may be ACS F435W and F555W or F606W; the catalog
#: files do not say which.
LEGUS_BANDS = BANDS

#: 0-based index of the human-class (mode) column, for the LEGUS
#: catalogs where it is not 33; `None` where no column holds clean 0-4
#: labels (the catalog is read as unlabelled).
LEGUS_CLASS_COLUMNS = {
    'ngc1313-e': 35,
    'ngc1313-w': 35,
    'ngc3351': 34,
    'ngc45': 34,
    'ngc4242': None,
    'ngc4449': None,
}

_DEFAULT_CLASS_COLUMN = 33

_LEGUS_NAME = re.compile(
    r'hlsp_legus_hst_(?P<instrument>[a-z0-9-]+?)_(?P<galaxy>[a-z0-9-]+)_multiband'
    r'(?:_(?P<version>v\d+))?', re.IGNORECASE)

# Magnitude sentinels of the LEGUS catalogs.
_NOT_DETECTED = MAG_NOT_DETECTED
_OUTSIDE = MAG_OUTSIDE_FOOTPRINT
# SED-fit sentinel: a band not used in the fit, or (v2 catalogs) no fit.
_NO_FIT = 200.0


def _is(values, sentinel):
    return np.abs(values - sentinel) < 5e-4


def _masked(values, mask, unit=None):
    values = np.asarray(values, dtype=float)
    if unit is None:
        return MaskedColumn(values, mask=mask)
    return Masked(values * unit, mask=np.asarray(mask, dtype=bool))


def _legus_name(path):
    match = _LEGUS_NAME.search(os.path.basename(os.fspath(path)))
    if match is None:
        return None, None, None
    return (match['galaxy'].lower(), match['instrument'].lower(),
            match['version'].lower() if match['version'] else None)


def read_legus(path, *, class_column=None):
    """
    Read a published LEGUS star-cluster candidate catalog.

    The LEGUS High Level Science Product catalogs
    (``hlsp_legus_hst_<instrument>_<galaxy>_multiband_<v1|v2>_padagb-mwext-avgapcor.tab``,
    Adamo et al. 2017) are whitespace-separated text without a header.
    The galaxy, and with it the column that holds the human visual class,
    is taken from the file name.

    Parameters
    ----------
    path : str or path-like
        The ``.tab`` file; a gzip-compressed ``.tab.gz`` also works.
    class_column : int, optional
        0-based index of the column that holds the human class (0 = not
        inspected, 1-4 = LEGUS class).  By default it is 33 (the 34th
        column), 35 for NGC 1313-E/-W, 34 for NGC 3351 and NGC 45 (see
        `LEGUS_CLASS_COLUMNS`); NGC 4242 and NGC 4449 have no column of
        clean 0-4 labels and are read as unlabelled unless a column is
        given here.  A file name that does not follow the LEGUS pattern
        is read with the default column 33 (35 for the NGC 1313 layout)
        and a `~starcnet.exceptions.StarcnetWarning`.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        One row per candidate, in catalog order:

        * ``id``: the catalog source id.
        * ``x``, ``y``: 0-based pixel positions, the published value
          minus 1 (see Notes).
        * ``x_catalog``, ``y_catalog``: the positions as published
          (1-based).  NGC 1313 catalogs have a second pair, kept as
          ``x_mosaic_catalog``, ``y_mosaic_catalog``.
        * ``sky_centroid``: `~astropy.coordinates.SkyCoord` (ICRS).
        * ``mag_<band>``, ``mag_err_<band>`` for the bands of
          `LEGUS_BANDS`: Vega magnitudes, masked
          `~astropy.units.Quantity`; masked where the catalog has 99.999
          (not detected) or 66.666 (outside the band's footprint).
          ``in_footprint_<band>`` (bool) is `False` for the latter, so a
          masked magnitude with ``in_footprint_<band>`` `True` means
          "not detected".
        * ``ci``: concentration index (mag).
        * ``age``, ``age_min``, ``age_max`` (yr), ``mass``, ``mass_min``,
          ``mass_max`` (solMass), ``ebv``, ``ebv_min``, ``ebv_max``
          (mag): SED fit, masked where there was none.
        * ``sed_residual_<band>``, ``sed_chi2``, ``sed_q``: the seven
          published SED-fit quality columns (per-band residuals, reduced
          chi2, Q probability), masked where there was no fit or the
          band was not used (200 in the file).
        * ``n_filters``: number of bands used in the SED fit, masked
          where the catalog has 0 (v1) or 200 (v2): no fit.
        * ``human_class``: LEGUS class 1-4 from visual inspection,
          masked where the catalog has 0 (not inspected) and everywhere
          for an unlabelled catalog.
        * ``catalog_col<N>``: any further columns as published (N is
          the 1-based column number), e.g. the mean class.

        ``meta`` holds the file name, galaxy, instrument, catalog
        version, the class column used (0-based, `None` if unlabelled)
        and notes on the conventions.

    Raises
    ------
    ValueError
        If the file is not a table of numbers with a constant number of
        columns, is too narrow for the LEGUS layout, or the class column
        holds values other than 0-4.

    Notes
    -----
    LEGUS pixel positions are 1-based: the centre of the first pixel is
    1.  The original StarcNet code cut ``data[int(Y)-16:int(Y)+16,
    int(X)-16:int(X)+16]`` at the published ``(X, Y)``;
    `starcnet.cutouts.cutout_origin` at the 0-based ``(x, y) = (X - 1, Y
    - 1)`` returned here gives exactly that cutout, so the positions can
    go straight to `~starcnet.StarClusterClassifier`.

    The NGC 1313 catalogs carry two extra columns after ``x``, ``y``: a
    second pair of pixel positions on a larger grid (the mosaic of both
    fields, judging from their range), which shifts every later column
    by two.  The first pair, on the field's own image, is used.  The
    layout is recognised from the data (columns 4-5 are not sky
    positions), not from the name.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    galaxy, instrument, version = _legus_name(path)
    try:
        with warnings.catch_warnings():
            # numpy warns on an empty file; that is reported below
            warnings.simplefilter('ignore', UserWarning)
            data = np.loadtxt(path, ndmin=2, dtype=float)
    except ValueError as exc:
        msg = (f'{name}: not a LEGUS catalog of whitespace-separated numbers '
               f'with the same number of columns in every row ({exc}); check '
               'the file is a LEGUS .tab catalog')
        raise ValueError(msg) from None
    nrow, ncol = data.shape
    if nrow == 0:
        msg = f'{name}: has no rows; check the file is a LEGUS .tab catalog'
        raise ValueError(msg)
    offset = 0
    if ncol >= 7 and (np.any(np.abs(data[:, 3]) > 360)
                      or np.any(np.abs(data[:, 4]) > 90)):
        # NGC 1313 layout: a second pixel-position pair before RA, Dec
        offset = 2
    n_fixed = 33 + offset
    if ncol < n_fixed:
        msg = (f'{name}: has {ncol} columns, a LEGUS cluster catalog has at '
               f'least {n_fixed} (id, x, y, RA, Dec, 5 magnitude/error pairs, '
               'CI, SED fit, number of filters); check the file')
        raise ValueError(msg)

    if class_column is None:
        class_column = LEGUS_CLASS_COLUMNS.get(galaxy, _DEFAULT_CLASS_COLUMN + offset)
        if galaxy is None:
            msg = (f'{name}: the file name does not follow the LEGUS pattern '
                   'hlsp_legus_hst_<instrument>_<galaxy>_multiband_..., so the '
                   f'human class is read from the default column, '
                   f'class_column={class_column} (0-based); pass class_column= '
                   'to choose it (see starcnet.catalogs.LEGUS_CLASS_COLUMNS)')
            warnings.warn(msg, StarcnetWarning, stacklevel=2)
        class_note = (f'default for {galaxy}' if galaxy in LEGUS_CLASS_COLUMNS
                      else 'default LEGUS layout')
        if class_column is None:
            class_note = (f'{galaxy}: no column holds clean 0-4 labels; read as '
                          'unlabelled (give class_column= to choose one)')
    else:
        if isinstance(class_column, bool) or not isinstance(class_column, (int, np.integer)):
            msg = (f'class_column must be a 0-based column index (int), got '
                   f'{class_column!r}')
            raise ValueError(msg)
        class_note = 'given by the user'
    if class_column is not None:
        class_column = int(class_column)
        if not n_fixed <= class_column < ncol:
            msg = (f'{name}: class_column={class_column} is not a class column: '
                   f'the file has {ncol} columns (0-based indices 0-{ncol - 1}) '
                   f'and columns 0-{n_fixed - 1} hold positions, photometry and '
                   'the SED fit; give an index from '
                   f'{n_fixed} to {ncol - 1}')
            raise ValueError(msg)
        labels = data[:, class_column]
        bad = ~np.isin(labels, (0, 1, 2, 3, 4))
        if bad.any():
            values = ', '.join(f'{v:g}' for v in np.unique(labels[bad])[:8])
            msg = (f'{name}: column {class_column} (0-based) is not a human-class '
                   f'column: {bad.sum()} value(s) are not 0-4 ({values}); give '
                   'the right column with class_column=')
            raise ValueError(msg)

    def col(k):
        # k in the standard layout -> column of this file
        return data[:, k + offset] if k >= 3 else data[:, k]

    table = QTable()
    table['id'] = data[:, 0].astype(np.int64)
    table['x'] = data[:, 1] - 1.0
    table['y'] = data[:, 2] - 1.0
    table['x'].info.description = '0-based x pixel position (x_catalog - 1)'
    table['y'].info.description = '0-based y pixel position (y_catalog - 1)'
    table['x_catalog'] = data[:, 1]
    table['y_catalog'] = data[:, 2]
    table['x_catalog'].info.description = 'x as published (1-based)'
    table['y_catalog'].info.description = 'y as published (1-based)'
    if offset:
        table['x_mosaic_catalog'] = data[:, 3]
        table['y_mosaic_catalog'] = data[:, 4]
        table['x_mosaic_catalog'].info.description = (
            'second published x (1-based), on a larger mosaic grid')
        table['y_mosaic_catalog'].info.description = (
            'second published y (1-based), on a larger mosaic grid')
    for column in table.colnames[1:]:
        table[column].info.format = '.3f'
    table['sky_centroid'] = SkyCoord(col(3) * u.deg, col(4) * u.deg, frame='icrs')

    for k, band in enumerate(LEGUS_BANDS):
        mag, err = col(5 + 2 * k), col(6 + 2 * k)
        outside = _is(mag, _OUTSIDE)
        bad = outside | _is(mag, _NOT_DETECTED)
        table[f'mag_{band}'] = _masked(mag, bad, u.mag)
        table[f'mag_err_{band}'] = _masked(
            err, bad | _is(err, _NOT_DETECTED) | _is(err, _OUTSIDE), u.mag)
        table[f'in_footprint_{band}'] = ~outside
        table[f'mag_{band}'].info.description = (
            f'{band} Vega magnitude; masked: 99.999 (not detected) or 66.666 '
            f'(outside footprint, see in_footprint_{band})')
        table[f'in_footprint_{band}'].info.description = (
            f'False where the catalog has 66.666: outside the {band} footprint')
    table['ci'] = col(15) * u.mag
    table['ci'].info.description = 'concentration index (1 px - 3 px aperture)'

    nfilt = col(32)
    no_fit = ~((nfilt >= 1) & (nfilt <= 5))
    for k, (quantity, unit) in enumerate((('age', u.yr), ('mass', u.solMass),
                                          ('ebv', u.mag))):
        for j, suffix in enumerate(('', '_min', '_max')):
            table[quantity + suffix] = _masked(col(16 + 3 * k + j), no_fit, unit)
    for k, band in enumerate(LEGUS_BANDS):
        value = col(25 + k)
        table[f'sed_residual_{band}'] = _masked(value, no_fit | _is(value, _NO_FIT))
    table['sed_chi2'] = _masked(col(30), no_fit | _is(col(30), _NO_FIT))
    table['sed_q'] = _masked(col(31), no_fit | _is(col(31), _NO_FIT))
    table['n_filters'] = MaskedColumn(np.where(no_fit, 0, nfilt).astype(np.int16),
                                      mask=no_fit)
    table['n_filters'].info.description = (
        'bands used in the SED fit; masked where there was no fit (0 or 200)')

    if class_column is None:
        human = np.zeros(nrow, dtype=np.int16)
    else:
        human = data[:, class_column].astype(np.int16)
    table['human_class'] = MaskedColumn(human, mask=human == 0)
    table['human_class'].info.description = (
        'LEGUS class 1-4 from visual inspection; masked: not inspected')
    for k in range(n_fixed, ncol):
        if k != class_column:
            table[f'catalog_col{k + 1}'] = data[:, k]

    table.meta['filename'] = name
    table.meta['galaxy'] = galaxy
    table.meta['instrument'] = instrument
    table.meta['version'] = version
    table.meta['class_column'] = class_column
    table.meta['class_column_note'] = class_note
    table.meta['layout'] = ('NGC 1313 layout: second pixel-position pair in '
                            'columns 4-5' if offset else 'standard LEGUS layout')
    table.meta['positions'] = ('x, y are 0-based (published values - 1); '
                               'x_catalog, y_catalog are as published (1-based)')
    table.meta['bands'] = list(LEGUS_BANDS)
    return table


#: Position columns of Source Extractor, in order of preference for
#: ``position='auto'``: windowed, then isophotal barycentre.
_SEXTRACTOR_POSITIONS = {
    'win': ('XWIN_IMAGE', 'YWIN_IMAGE', 'ALPHAWIN_J2000', 'DELTAWIN_J2000'),
    'image': ('X_IMAGE', 'Y_IMAGE', 'ALPHA_J2000', 'DELTA_J2000'),
}


def _ldac_objects(hdul):
    """Indices of the ``LDAC_OBJECTS`` HDUs of an open FITS file."""
    return [k for k, h in enumerate(hdul)
            if h.header.get('EXTNAME', '').strip().upper() == 'LDAC_OBJECTS']


def _read_ldac(path, name, hdu):
    with fits.open(path) as hdul:
        objects = _ldac_objects(hdul)
        if hdu is None:
            if len(objects) != 1:
                msg = (f'{name}: a FITS_LDAC catalog has one LDAC_OBJECTS table '
                       f'per image; this file has {len(objects)} (HDUs '
                       f'{objects}); pick one with hdu=')
                raise ValueError(msg)
            hdu = objects[0]
        try:
            table_hdu = hdul[hdu]
        except (IndexError, KeyError):
            msg = f'{name}: has no HDU {hdu!r}; its LDAC_OBJECTS HDUs are {objects}'
            raise ValueError(msg) from None
        if not isinstance(table_hdu, fits.BinTableHDU):
            msg = f'{name}: HDU {hdu!r} is not a binary table; give an LDAC_OBJECTS HDU'
            raise ValueError(msg)  # noqa: TRY004 (bad file content, not a bad argument)
        return QTable.read(table_hdu, unit_parse_strict='silent')


def read_sextractor(path, *, position='auto', hdu=None):
    """
    Read a Source Extractor catalog.

    Parameters
    ----------
    path : str or path-like
        A catalog written with ``CATALOG_TYPE ASCII_HEAD`` (text, one
        ``#   1 NUMBER   Running object number   [unit]`` header line per
        parameter) or ``FITS_LDAC`` (a FITS file whose ``LDAC_IMHEAD``
        HDU holds the image header and whose ``LDAC_OBJECTS`` binary
        table holds the sources).  The format is told from the file's
        first bytes.
    position : {'auto', 'win', 'image'}, optional
        Which SExtractor positions become ``x``, ``y`` (and
        ``sky_centroid``): ``'win'``, the windowed centroids
        ``XWIN_IMAGE``, ``YWIN_IMAGE`` (``ALPHAWIN_J2000``,
        ``DELTAWIN_J2000``), which are more precise for compact sources;
        ``'image'``, the isophotal barycentres ``X_IMAGE``, ``Y_IMAGE``
        (``ALPHA_J2000``, ``DELTA_J2000``); ``'auto'`` (default), the
        windowed ones when the catalog has them, else the barycentres.
    hdu : int or str, optional
        The ``LDAC_OBJECTS`` HDU of a FITS_LDAC file with more than one
        (one per chip or extension).

    Returns
    -------
    catalog : `~astropy.table.QTable`
        The SExtractor columns under their own names and units (vector
        parameters of ASCII_HEAD catalogs such as ``FLUX_APER`` become
        ``FLUX_APER``, ``FLUX_APER_1``, ...; FITS_LDAC keeps them as
        2-D columns), plus ``x``, ``y``: 0-based pixel positions, the
        SExtractor (1-based) position minus 1, and ``sky_centroid``
        (ICRS) when the catalog has the matching ``ALPHA*_J2000``,
        ``DELTA*_J2000`` columns.  ``meta['position_columns']`` names the
        columns used.  Magnitudes of 99 (SExtractor's failed
        measurement) are kept as they are.

    Raises
    ------
    ValueError
        If the file is neither format, or has no position columns.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    if position not in ('auto', 'win', 'image'):
        msg = f"position must be 'auto', 'win' or 'image', got {position!r}"
        raise ValueError(msg)
    with open(path, 'rb') as fh:
        start = fh.read(80)
    if start.startswith(b'SIMPLE  ='):
        table = _read_ldac(path, name, hdu)
        fmt = 'FITS_LDAC'
    elif start.lstrip().startswith(b'#'):
        try:
            table = QTable.read(path, format='ascii.sextractor')
        except Exception as exc:
            msg = (f'{name}: cannot be read as a SExtractor ASCII_HEAD catalog '
                   f'({exc}); check CATALOG_TYPE was ASCII_HEAD')
            raise ValueError(msg) from None
        fmt = 'ASCII_HEAD'
    else:
        msg = (f'{name}: neither a FITS_LDAC nor an ASCII_HEAD SExtractor '
               'catalog; write it with CATALOG_TYPE ASCII_HEAD or FITS_LDAC '
               '(plain ASCII has no column names)')
        raise ValueError(msg)

    names = set(table.colnames)
    kinds = ('win', 'image') if position == 'auto' else (position,)
    for kind in kinds:
        xname, yname, raname, decname = _SEXTRACTOR_POSITIONS[kind]
        if xname in names and yname in names:
            break
    else:
        wanted = ' or '.join('/'.join(_SEXTRACTOR_POSITIONS[k][:2]) for k in kinds)
        msg = (f'{name}: has no pixel positions ({wanted}); add them to the '
               'SExtractor parameter file')
        raise ValueError(msg)
    for new in ('x', 'y', 'sky_centroid'):
        if new in names:
            msg = f'{name}: already has a column {new!r}; rename it'
            raise ValueError(msg)
    table['x'] = _pixels(table[xname]) - 1.0
    table['y'] = _pixels(table[yname]) - 1.0
    table['x'].info.format = table['y'].info.format = '.3f'
    table['x'].info.description = f'0-based x pixel position ({xname} - 1)'
    table['y'].info.description = f'0-based y pixel position ({yname} - 1)'
    used = [xname, yname]
    if raname in names and decname in names:
        ra, dec = table[raname], table[decname]
        ra = ra if isinstance(ra, u.Quantity) else np.asarray(ra) * u.deg
        dec = dec if isinstance(dec, u.Quantity) else np.asarray(dec) * u.deg
        table['sky_centroid'] = SkyCoord(ra, dec, frame='icrs')
        used += [raname, decname]
    table.meta['filename'] = name
    table.meta['format'] = fmt
    table.meta['position_columns'] = used
    table.meta['positions'] = 'x, y are 0-based (SExtractor positions - 1)'
    return table


def _pixels(column):
    if isinstance(column, u.Quantity):
        if column.unit not in (u.pix, u.dimensionless_unscaled):
            msg = f'position column has unit {column.unit}, expected pixels'
            raise ValueError(msg)
        column = column.value
    return np.asarray(column, dtype=float)
