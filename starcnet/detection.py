# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Finding candidates with photutils, for users who have no catalog.
"""

import warnings

import numpy as np
from astropy.stats import sigma_clipped_stats
from astropy.table import QTable
from photutils.detection import DAOStarFinder
from photutils.utils.exceptions import NoDetectionsWarning

__all__ = ['find_candidates']


def find_candidates(image, band='F555W', *, fwhm=2.0, nsigma=5.0, **kwargs):
    """
    Detect candidate sources in one band with photutils' `~photutils.detection.DAOStarFinder`.

    The threshold is ``nsigma`` times the sigma-clipped standard
    deviation of the band, measured above its sigma-clipped median.

    Parameters
    ----------
    image : `~starcnet.MultiBandImage`
        The image.
    band : str, optional
        The band to detect in.
    fwhm : float, optional
        FWHM of the detection kernel in pixels.
    nsigma : float, optional
        Detection threshold in units of the background noise.
    **kwargs
        Passed to `~photutils.detection.DAOStarFinder` (e.g.
        ``sharpness_range``, ``roundness_range``, ``exclude_border``).

    Returns
    -------
    sources : `~astropy.table.QTable`
        DAOStarFinder's table (0-based ``x_centroid``, ``y_centroid``);
        empty, never `None`, when nothing is found.
    """
    nd = image[band]
    data = np.asarray(nd.data, dtype=np.float32)
    mask = None if nd.mask is None else np.asarray(nd.mask, dtype=bool)
    mask = ~np.isfinite(data) if mask is None else (mask | ~np.isfinite(data))
    _, median, std = sigma_clipped_stats(data, mask=mask, sigma=3.0)
    if not np.isfinite(std) or std <= 0:
        msg = f'cannot measure the noise of band {band}: no finite, unmasked pixels'
        raise ValueError(msg)
    finder = DAOStarFinder(threshold=nsigma * std, fwhm=fwhm, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NoDetectionsWarning)
        sources = finder(data - median, mask=mask)
    if sources is None:
        sources = QTable({'id': np.zeros(0, dtype=int),
                          'x_centroid': np.zeros(0), 'y_centroid': np.zeros(0)})
    return sources
