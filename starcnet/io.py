# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Classified catalogs as ECSV files that astropy, TOPCAT and STILTS read.
"""

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, QTable, Table
from astropy.utils.masked import Masked

from ._io import atomic_write

__all__ = ['write_catalog', 'read_catalog']

_META_KEY = 'starcnet_sky_columns'


def _plain_table(catalog):
    """
    A copy of ``catalog`` with only plain columns.

    astropy writes mixin columns (`~astropy.coordinates.SkyCoord`,
    masked quantities) to ECSV with ``!astropy.table.SerializedColumn``
    YAML tags that other ECSV readers (STIL 4.1, hence the TOPCAT and
    STILTS of many installations) refuse.  Sky coordinates become ICRS
    ``<name>_ra`` and ``<name>_dec`` columns in degrees, recorded in
    ``meta['starcnet_sky_columns']`` so that `read_catalog` restores
    them; masked quantities become masked columns with a unit.
    """
    out = Table(masked=False)
    out.meta.update(catalog.meta)
    sky_columns = {}
    for name in catalog.colnames:
        col = catalog[name]
        if isinstance(col, SkyCoord):
            icrs = col.icrs
            out[f'{name}_ra'] = icrs.ra.to(u.deg)
            out[f'{name}_dec'] = icrs.dec.to(u.deg)
            out[f'{name}_ra'].description = f'ICRS right ascension of {name}'
            out[f'{name}_dec'].description = f'ICRS declination of {name}'
            sky_columns[name] = [f'{name}_ra', f'{name}_dec']
        elif isinstance(col, Masked):
            out[name] = MaskedColumn(np.asarray(col.unmasked.value),
                                     mask=np.asarray(col.mask), unit=col.unit,
                                     description=col.info.description)
        elif isinstance(col, u.Quantity):
            out[name] = col
        elif hasattr(col, 'info') and not isinstance(col, (np.ndarray,)):
            msg = (f'column {name!r} ({type(col).__name__}) cannot be written '
                   'to a portable ECSV file; convert or remove it')
            raise TypeError(msg)
        else:
            out[name] = col
    if sky_columns:
        out.meta[_META_KEY] = sky_columns
    return out


def write_catalog(catalog, path, *, overwrite=False):
    """
    Write a classified catalog as ECSV, atomically.

    ECSV keeps every column, unit, mask and the ``meta`` that records the
    model and software versions.  Sky coordinates are written as plain
    ICRS ``<name>_ra`` / ``<name>_dec`` columns in degrees so that TOPCAT
    and STILTS read the file too; `read_catalog` turns them back into
    `~astropy.coordinates.SkyCoord`.  The file is written to a temporary
    file and moved into place, so it is never left half written.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        E.g. the output of `~starcnet.StarClusterClassifier`.
    path : path-like
        Output file.
    overwrite : bool, optional
        Replace an existing file; without it an existing file is an error
        and is left untouched.
    """
    plain = _plain_table(catalog)
    atomic_write(path, lambda tmp: plain.write(tmp, format='ascii.ecsv',
                                               overwrite=True),
                 overwrite=overwrite, suffix='.ecsv')


def read_catalog(path):
    """
    Read a catalog written by `write_catalog`.

    Parameters
    ----------
    path : path-like
        An ECSV file.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        With the sky coordinate columns restored as
        `~astropy.coordinates.SkyCoord`, in their original place.
    """
    table = QTable.read(path, format='ascii.ecsv')
    sky_columns = table.meta.pop(_META_KEY, {})
    for name, (ra, dec) in sky_columns.items():
        index = table.colnames.index(ra)
        coord = SkyCoord(table[ra], table[dec], frame='icrs')
        table.remove_columns([ra, dec])
        table.add_column(coord, name=name, index=index)
    return table
