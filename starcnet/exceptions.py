# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Warnings issued by starcnet.
"""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = ['StarcnetWarning', 'BandSubstitutionWarning']


class StarcnetWarning(AstropyUserWarning):
    """
    Base class of all starcnet warnings.
    """


class BandSubstitutionWarning(StarcnetWarning):
    """
    An image band stands in for a model band of a similar filter
    (F435W for F438W, F606W for F555W).
    """
