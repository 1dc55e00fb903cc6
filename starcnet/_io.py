# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Private alias: `atomic_write` lives in ``starcnet.io._atomic``.
"""

from .io._atomic import atomic_write

__all__ = ['atomic_write']
