# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Tables with only plain columns, which every ECSV and VOTable reader takes,
and back.
"""

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, QTable, Table
from astropy.utils.masked import Masked

__all__ = []

#: ``meta`` key naming the ``<name>_ra`` / ``<name>_dec`` column pairs
#: that were a `~astropy.coordinates.SkyCoord` column ``<name>``.
SKY_META_KEY = 'starcnet_sky_columns'
#: ``meta`` key of the descriptions of those SkyCoord columns.
SKY_DESCRIPTION_KEY = 'starcnet_sky_descriptions'


def plain_table(catalog, what='a portable file'):
    """
    A copy of ``catalog`` with only plain columns.

    astropy writes mixin columns (`~astropy.coordinates.SkyCoord`,
    masked quantities) to ECSV with ``!astropy.table.SerializedColumn``
    YAML tags that other ECSV readers (STIL 4.1, hence the TOPCAT and
    STILTS of many installations) refuse, and drops most of them from
    VOTables.  Sky coordinates become ICRS ``<name>_ra`` and
    ``<name>_dec`` columns in degrees, recorded in
    ``meta['starcnet_sky_columns']`` so that the readers restore them;
    masked quantities become masked columns with a unit.  Units,
    descriptions and column ``meta`` (e.g. ``ucd``) are kept.
    """
    out = Table(masked=False)
    out.meta.update(catalog.meta)
    sky_columns, sky_descriptions = {}, {}
    for name in catalog.colnames:
        col = catalog[name]
        if isinstance(col, SkyCoord):
            icrs = col.icrs
            ra, dec = f'{name}_ra', f'{name}_dec'
            out[ra] = icrs.ra.to(u.deg)
            out[dec] = icrs.dec.to(u.deg)
            out[ra].info.description = f'ICRS right ascension of {name}'
            out[dec].info.description = f'ICRS declination of {name}'
            out[ra].info.meta = {'ucd': 'pos.eq.ra;meta.main'}
            out[dec].info.meta = {'ucd': 'pos.eq.dec;meta.main'}
            sky_columns[name] = [ra, dec]
            if col.info.description:
                sky_descriptions[name] = col.info.description
        elif isinstance(col, Masked):
            out[name] = MaskedColumn(np.asarray(col.unmasked.value),
                                     mask=np.asarray(col.mask), unit=col.unit,
                                     description=col.info.description,
                                     meta=col.info.meta)
        elif isinstance(col, u.Quantity):
            out[name] = col
        elif hasattr(col, 'info') and not isinstance(col, np.ndarray):
            msg = (f'column {name!r} ({type(col).__name__}) cannot be written '
                   f'to {what}; convert or remove it')
            raise TypeError(msg)
        else:
            out[name] = col
    if sky_columns:
        out.meta[SKY_META_KEY] = sky_columns
    if sky_descriptions:
        out.meta[SKY_DESCRIPTION_KEY] = sky_descriptions
    return out


def _malformed(what, problem):
    msg = (f'malformed sky-column metadata in {what}: {problem}; fix or remove '
           f"meta[{SKY_META_KEY!r}] (it maps a SkyCoord column name to its "
           "[ra, dec] column names), or read the file with QTable.read")
    return ValueError(msg)


def _sky_pairs(table, what):
    """The checked ``{name: (ra, dec)}`` of ``meta['starcnet_sky_columns']``."""
    sky_columns = table.meta.get(SKY_META_KEY, {})
    if not isinstance(sky_columns, dict):
        raise _malformed(what, f'a {type(sky_columns).__name__}, not a mapping')
    pairs = {}
    for name, pair in sky_columns.items():
        if (not isinstance(name, str) or isinstance(pair, (str, bytes))
                or not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(c, str) for c in pair)):
            raise _malformed(what, f'{name!r}: {pair!r} is not a pair of column names')
        ra, dec = pair
        missing = [c for c in pair if c not in table.colnames]
        if missing:
            raise _malformed(what, f'{name!r} names column(s) '
                             f'{", ".join(map(repr, missing))}, which the table lacks')
        if ra == dec or name in pairs or (name in table.colnames and name not in pair):
            raise _malformed(what, f'{name!r}: {pair!r} clashes with another column')
        for col in pair:
            try:
                u.Quantity(table[col], u.deg)
            except (TypeError, ValueError, u.UnitsError) as exc:
                raise _malformed(what, f'column {col!r} of {name!r} is not an angle '
                                 f'in degrees ({exc})') from None
        pairs[name] = (ra, dec)
    used = [c for pair in pairs.values() for c in pair]
    if len(set(used)) != len(used):
        raise _malformed(what, 'a column is named by two sky columns')
    return pairs


def restore_sky(table, what='the catalog'):
    """
    Turn the ``<name>_ra`` / ``<name>_dec`` pairs recorded by
    `plain_table` back into `~astropy.coordinates.SkyCoord` columns, in
    place, at the position of the first of the pair.

    Raises
    ------
    ValueError
        If that record is malformed (not a mapping of names to pairs of
        existing angle columns); ``what`` names the file.
    """
    sky_columns = _sky_pairs(table, what)
    descriptions = table.meta.get(SKY_DESCRIPTION_KEY, {})
    if not isinstance(descriptions, dict):
        descriptions = {}
    table.meta.pop(SKY_META_KEY, None)
    table.meta.pop(SKY_DESCRIPTION_KEY, None)
    for name, (ra, dec) in sky_columns.items():
        index = table.colnames.index(ra)
        coord = SkyCoord(u.Quantity(table[ra], u.deg), u.Quantity(table[dec], u.deg),
                         frame='icrs')
        table.remove_columns([ra, dec])
        table.add_column(coord, name=name, index=index)
        if isinstance(descriptions.get(name), str):
            table[name].info.description = descriptions[name]
    return table


def as_qtable(table):
    """A `~astropy.table.QTable` view of a table read from a file."""
    return table if isinstance(table, QTable) else QTable(table, copy=False)
