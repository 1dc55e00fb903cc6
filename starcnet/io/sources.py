# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
One reader for source catalogs of every format starcnet knows, used by
the command line and `starcnet.distributed`.
"""

import os
import re

from astropy.table import QTable

__all__ = ['SOURCE_FORMATS', 'read_sources', 'source_format']

#: Formats `read_sources` reads with a reader of its own; any other
#: ``format`` goes to `astropy.table.QTable.read`.
SOURCE_FORMATS = ('legus', 'sextractor', 'ecsv', 'votable')

_ALIASES = {'ascii.ecsv': 'ecsv', 'vot': 'votable', 'ascii.sextractor': 'sextractor'}

# First line of a Source Extractor ASCII_HEAD catalog: "#   1 NUMBER ..."
_SEXTRACTOR_HEAD = re.compile(rb'^#\s+1\s+[A-Z][A-Z0-9_]*\s')


def _is_ldac(path):
    from astropy.io import fits

    from ..catalogs import _ldac_objects

    with fits.open(path) as hdul:
        return bool(_ldac_objects(hdul))


def source_format(path, format=None):
    """
    The format in which `read_sources` reads a file.

    Parameters
    ----------
    path : path-like
    format : str, optional
        One of `SOURCE_FORMATS` (``'ascii.ecsv'``, ``'vot'`` and
        ``'ascii.sextractor'`` are accepted too) or an astropy table
        format; returned as it is when it is not one of those.

    Returns
    -------
    format : str or None
        One of `SOURCE_FORMATS`, the astropy format given, or `None` when
        astropy is to tell the format itself.
    """
    if format is not None:
        lower = str(format).lower()
        lower = _ALIASES.get(lower, lower)
        return lower if lower in SOURCE_FORMATS else format
    name = os.fspath(path)
    lower = name.lower()
    if lower.endswith(('.tab', '.tab.gz')):
        return 'legus'
    if lower.endswith('.ecsv'):
        return 'ecsv'
    if lower.endswith(('.vot', '.votable', '.xml')):
        return 'votable'
    with open(name, 'rb') as fh:
        start = fh.read(2880)
    if _SEXTRACTOR_HEAD.match(start):
        return 'sextractor'
    if start.startswith(b'SIMPLE  =') and _is_ldac(name):
        return 'sextractor'
    return None


def read_sources(path, *, format=None, **kwargs):
    """
    Read a source catalog, whatever its format.

    Parameters
    ----------
    path : path-like
        A published LEGUS catalog (``.tab`` or ``.tab.gz``: read with
        `~starcnet.catalogs.read_legus`), a Source Extractor catalog
        (ASCII_HEAD or FITS_LDAC, told from the file's first bytes:
        `~starcnet.catalogs.read_sextractor`), an ECSV file (``.ecsv``:
        `~starcnet.io.ecsv.read_ecsv`, which restores the sky columns of
        a catalog starcnet wrote), a VOTable (``.vot``, ``.votable``,
        ``.xml``: `~starcnet.io.votable.read_votable`), or anything
        `astropy.table.QTable.read` reads.
    format : str, optional
        ``'legus'``, ``'sextractor'``, ``'ecsv'``, ``'votable'``, or an
        astropy table format (e.g. ``'fits'``, ``'ascii.csv'``); by
        default told from the name and the first bytes as above.
    **kwargs
        Passed to the reader (e.g. ``class_column=`` for LEGUS,
        ``position=`` for Source Extractor).

    Returns
    -------
    sources : `~astropy.table.QTable`

    Raises
    ------
    ValueError
        If the file cannot be read in that format; the message names the
        file, the format tried and what went wrong.
    """
    from ..catalogs import read_legus, read_sextractor
    from .ecsv import read_ecsv
    from .votable import read_votable

    fmt = source_format(path, format)
    readers = {'legus': read_legus, 'sextractor': read_sextractor,
               'ecsv': read_ecsv, 'votable': read_votable}
    try:
        if fmt in readers:
            return readers[fmt](path, **kwargs)
        return QTable.read(path, format=fmt, **kwargs)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        how = f'as {fmt}' if fmt else 'with astropy'
        msg = (f'cannot read {os.fspath(path)} {how}: {exc}; give the format '
               f"(format='legus', 'sextractor', 'ecsv', 'votable' or an "
               'astropy format)')
        raise ValueError(msg) from exc
