# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Writing and reading classified catalogs, in the format their file name
(or ``format=``) says.
"""

import os

from .ecsv import read_ecsv, write_ecsv
from .votable import read_votable, write_votable

__all__ = ['CATALOG_FORMATS', 'write_catalog', 'read_catalog', 'catalog_format']

#: Catalog formats of `write_catalog` and `read_catalog` and the file
#: name endings that select them.
CATALOG_FORMATS = {'ecsv': ('.ecsv',), 'votable': ('.vot', '.xml', '.votable')}

_ALIASES = {'ascii.ecsv': 'ecsv', 'vot': 'votable', 'xml': 'votable'}


def catalog_format(path, format=None):
    """
    The format of a catalog file: ``format`` if given, else from the name.

    Parameters
    ----------
    path : path-like
    format : {'ecsv', 'votable'}, optional
        Also accepted: ``'ascii.ecsv'``, ``'vot'``, ``'xml'``.

    Returns
    -------
    format : {'ecsv', 'votable'} or None
        `None` when ``format`` is not given and the name ends in none of
        the endings of `CATALOG_FORMATS`.

    Raises
    ------
    ValueError
        If ``format`` is unknown.
    """
    if format is not None:
        name = _ALIASES.get(str(format).lower(), str(format).lower())
        if name not in CATALOG_FORMATS:
            msg = (f'unknown catalog format {format!r}; use '
                   f'{" or ".join(map(repr, CATALOG_FORMATS))}')
            raise ValueError(msg)
        return name
    lower = os.fspath(path).lower()
    for name, endings in CATALOG_FORMATS.items():
        if lower.endswith(endings):
            return name
    return None


def _sniff(path):
    with open(path, 'rb') as fh:
        start = fh.read(512).lstrip()
    if start.startswith((b'<?xml', b'<VOTABLE')):
        return 'votable'
    return 'ecsv'


def write_catalog(catalog, path, *, format=None, overwrite=False):
    """
    Write a classified catalog as ECSV or VOTable, atomically.

    Both formats keep every column with its unit, description and mask,
    and the ``meta`` that records the model and software versions; sky
    coordinates are written as plain ICRS ``<name>_ra`` / ``<name>_dec``
    columns in degrees so that TOPCAT and STILTS read the files, and
    `read_catalog` turns them back into `~astropy.coordinates.SkyCoord`.
    The file is written to a temporary file and moved into place, so it
    is never left half written.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        E.g. the output of `~starcnet.StarClusterClassifier`.
    path : path-like
        Output file: ``.vot``, ``.xml`` or ``.votable`` for a VOTable
        (`~starcnet.io.votable.write_votable`), any other name for ECSV
        (`~starcnet.io.ecsv.write_ecsv`).
    format : {'ecsv', 'votable'}, optional
        The format, whatever the file name.
    overwrite : bool, optional
        Replace an existing file; without it an existing file is an error
        and is left untouched.
    """
    if catalog_format(path, format) == 'votable':
        write_votable(catalog, path, overwrite=overwrite)
    else:
        write_ecsv(catalog, path, overwrite=overwrite)


def read_catalog(path, *, format=None):
    """
    Read a catalog written by `write_catalog`.

    Parameters
    ----------
    path : path-like
        An ECSV (``.ecsv``) or VOTable (``.vot``, ``.xml``, ``.votable``)
        file; under another name the format is told from its first bytes.
    format : {'ecsv', 'votable'}, optional
        The format, whatever the file name.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        With the sky coordinate columns restored as
        `~astropy.coordinates.SkyCoord`, in their original place.
    """
    fmt = catalog_format(path, format) or _sniff(path)
    if fmt == 'votable':
        return read_votable(path)
    return read_ecsv(path)
