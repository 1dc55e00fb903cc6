# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Classified catalogs as ECSV files that astropy, TOPCAT and STILTS read.
"""

import os

from astropy.table import QTable

from ._atomic import atomic_write
from ._columns import plain_table, restore_sky

__all__ = ['write_ecsv', 'read_ecsv']


def write_ecsv(catalog, path, *, overwrite=False):
    """
    Write a catalog as ECSV, atomically.

    ECSV keeps every column, unit, description, mask and the ``meta``
    that records the model and software versions.  Sky coordinates are
    written as plain ICRS ``<name>_ra`` / ``<name>_dec`` columns in
    degrees so that TOPCAT and STILTS read the file too; `read_ecsv`
    turns them back into `~astropy.coordinates.SkyCoord`.  The file is
    written to a temporary file and moved into place, so it is never
    left half written.

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
    plain = plain_table(catalog, 'a portable ECSV file')
    atomic_write(path, lambda tmp: plain.write(tmp, format='ascii.ecsv',
                                               overwrite=True),
                 overwrite=overwrite, suffix='.ecsv')


def read_ecsv(path):
    """
    Read an ECSV catalog written by `write_ecsv`.

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
    return restore_sky(QTable.read(path, format='ascii.ecsv'), repr(os.fspath(path)))
