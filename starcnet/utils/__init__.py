# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Small helpers shared by the package: optional-dependency flags and
progress bars.  Nothing here is public API.
"""

__all__ = []
