# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Deprecated: use `starcnet.io.ds9` (or ``starcnet.catalog_to_regions`` and
``starcnet.write_regions``).

This module's name was the name of the ``regions`` package it uses; its
contents moved to `starcnet.io.ds9` in 0.2.  Its names still work here,
with an `~astropy.utils.exceptions.AstropyDeprecationWarning`, and the
module will be removed in 0.3.
"""

import warnings

from astropy.utils.exceptions import AstropyDeprecationWarning

from .io import ds9 as _ds9

__all__ = []


def __getattr__(name):
    if name in _ds9.__all__:
        warnings.warn(f'starcnet.regions is deprecated; import {name} from '
                      'starcnet.io.ds9 (or starcnet) instead',
                      AstropyDeprecationWarning, stacklevel=2)
        return getattr(_ds9, name)
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)
