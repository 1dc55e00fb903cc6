# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Classified catalogs as VOTables, the table format of TOPCAT, Aladin and
the Virtual Observatory (and of SAMP's ``table.load.votable``).
"""

import json
import os

import numpy as np
from astropy.io.votable import from_table, parse
from astropy.io.votable.tree import Info
from astropy.table import MaskedColumn

from ._atomic import atomic_write
from ._columns import as_qtable, plain_table, restore_sky

__all__ = ['write_votable', 'read_votable']

#: Name of the VOTable ``INFO`` element that holds the table ``meta``
#: as JSON.
META_INFO = 'starcnet_meta'

_FORMATS = ('binary2', 'tabledata', 'binary')


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    msg = (f'table meta value {value!r} ({type(value).__name__}) cannot be '
           'written to a VOTable; use numbers, strings, lists and dicts')
    raise TypeError(msg)


def _votable(catalog, data_format):
    plain = plain_table(catalog, 'a VOTable')
    meta = dict(plain.meta)
    plain.meta.clear()
    for name in plain.colnames:
        col = plain[name]
        # VOTables have no null for strings: masked strings are written
        # empty, and read_votable masks empty strings.
        if col.dtype.kind in 'US' and isinstance(col, MaskedColumn):
            plain[name] = MaskedColumn(col.filled(''), mask=col.mask,
                                       description=col.info.description,
                                       meta=col.info.meta)
    votable = from_table(plain)
    table = votable.get_first_table()
    table.format = data_format
    if meta:
        table.infos.append(Info(name=META_INFO,
                                value=json.dumps(meta, default=_json_default)))
    return votable


def write_votable(catalog, path, *, overwrite=False, data_format='binary2'):
    """
    Write a catalog as a VOTable, atomically.

    Units, descriptions, UCDs and masks (VOTable nulls: unclassified
    sources) are kept.  Sky coordinates become ICRS ``<name>_ra`` /
    ``<name>_dec`` columns in degrees, as in ECSV; the table ``meta``
    (model, versions, date) is stored as JSON in an ``INFO`` element
    named ``starcnet_meta``, which TOPCAT shows as a table parameter.
    `read_votable` restores both.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        E.g. the output of `~starcnet.StarClusterClassifier`.
    path : path-like
        Output file (``.vot`` or ``.xml`` by custom).
    overwrite : bool, optional
        Replace an existing file; without it an existing file is an error
        and is left untouched.
    data_format : {'binary2', 'tabledata', 'binary'}, optional
        How the rows are serialised: ``'binary2'`` (default; compact, with
        a null flag for every cell), ``'tabledata'`` (XML text) or
        ``'binary'``.
    """
    if data_format not in _FORMATS:
        msg = f'data_format must be one of {", ".join(_FORMATS)}, got {data_format!r}'
        raise ValueError(msg)
    votable = _votable(catalog, data_format)
    atomic_write(path, votable.to_xml, overwrite=overwrite, suffix='.vot')


def read_votable(path):
    """
    Read a VOTable catalog written by `write_votable` (or any VOTable).

    Parameters
    ----------
    path : path-like
        A VOTable file; its first table is read.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        With ``meta`` and the sky coordinate columns restored (when the
        file was written by `write_votable`), empty strings masked and
        the white space of column descriptions collapsed to single
        spaces.
    """
    votable = parse(path)
    table = votable.get_first_table()
    meta = {}
    for info in table.infos:
        if info.name == META_INFO:
            try:
                meta = json.loads(info.value)
            except (TypeError, ValueError) as exc:
                msg = (f'{os.fspath(path)!r}: the INFO element {META_INFO!r} is '
                       f'not valid JSON ({exc}); remove it or read the file with '
                       'QTable.read')
                raise ValueError(msg) from None
            if not isinstance(meta, dict):
                msg = (f'{os.fspath(path)!r}: the INFO element {META_INFO!r} holds '
                       f'a JSON {type(meta).__name__}, not an object')
                raise ValueError(msg)
    out = table.to_table(use_names_over_ids=True)
    for name in out.colnames:
        col = out[name]
        if col.info.description:
            # astropy wraps long DESCRIPTION elements over several lines
            col.info.description = ' '.join(col.info.description.split())
        if col.dtype.kind in 'US':
            empty = np.asarray(col) == ''
            if empty.any():
                out[name] = MaskedColumn(col, mask=empty | np.ma.getmaskarray(col),
                                         description=col.info.description,
                                         meta=col.info.meta)
    out.meta.clear()
    out.meta.update(meta)
    return restore_sky(as_qtable(out), repr(os.fspath(path)))
