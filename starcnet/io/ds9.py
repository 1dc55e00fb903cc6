# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
DS9 regions of classified catalogs, through the ``regions`` package.
"""

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from regions import CirclePixelRegion, CircleSkyRegion, PixCoord, Regions

from ..cutouts import table_positions
from ._atomic import atomic_write

__all__ = ['CLASS_COLORS', 'UNCERTAIN_QUALITY', 'catalog_to_regions', 'uncertain_sources',
           'write_regions']

#: DS9 colour per LEGUS class; ``None`` is for unclassified sources.
CLASS_COLORS = {1: 'green', 2: 'cyan', 3: 'yellow', 4: 'red', None: 'magenta'}

#: A classified source is *uncertain* when its ``class_quality`` (the
#: fraction of Monte Carlo dropout samples that agree with its class) is
#: below this: fewer than 60% of the samples agree.
UNCERTAIN_QUALITY = 0.6


def uncertain_sources(catalog, quality=UNCERTAIN_QUALITY):
    """
    Which sources of a classified catalog are uncertain:
    ``class_quality < quality``.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        Classified with ``uncertainty='mc_dropout'`` or by an ensemble
        model (it has a ``class_quality`` column).
    quality : float, optional
        The threshold, default `UNCERTAIN_QUALITY`.

    Returns
    -------
    uncertain : `~numpy.ndarray` or None
        bool, one per row, False where the source was not classified
        (masked); `None` if the catalog has no ``class_quality`` column.
    """
    if 'class_quality' not in catalog.colnames:
        return None
    column = np.ma.asarray(catalog['class_quality'])
    values = np.ma.getdata(column).astype(float)
    with np.errstate(invalid='ignore'):
        return (values < quality) & ~np.ma.getmaskarray(column)


def catalog_to_regions(catalog, *, coord='pixel', radius=None, colors=None,
                       label=True, dash_uncertain=True):
    """
    One circle region per source, coloured and labelled by class;
    uncertain sources drawn dashed.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        A catalog classified by `~starcnet.StarClusterClassifier`.
    coord : {'pixel', 'sky'}, optional
        Pixel regions at the 0-based pixel positions (written 1-based to
        DS9 files by ``regions``), or sky regions at ``sky_centroid``.
    radius : float or `~astropy.units.Quantity`, optional
        Circle radius: pixels for ``'pixel'`` (default 5), an angle for
        ``'sky'`` (default 0.2 arcsec, about 5 LEGUS pixels).
    colors : dict, optional
        Class (1-4, or `None` for unclassified) to DS9 colour name;
        default `CLASS_COLORS`.
    label : bool, optional
        Label each circle with its class and probability, e.g.
        ``'1 (0.93)'``; unclassified sources are labelled ``'?'``.
    dash_uncertain : bool, optional
        Draw uncertain sources (`uncertain_sources`: ``class_quality``
        below `UNCERTAIN_QUALITY`, for catalogs classified with
        ``uncertainty='mc_dropout'`` or by an ensemble) with a dashed circle (DS9
        ``dash=1``).

    Returns
    -------
    regions : `~regions.Regions`
    """
    if 'cluster_class' not in catalog.colnames:
        msg = ("the catalog has no 'cluster_class' column; classify it with "
               'StarClusterClassifier first')
        raise ValueError(msg)
    colors = {**CLASS_COLORS, **(colors or {})}
    classes = np.ma.asarray(catalog['cluster_class'])
    mask = np.ma.getmaskarray(classes)
    probs = np.column_stack([np.ma.getdata(catalog[f'prob_class{k}'])
                             for k in range(1, 5)])
    if coord == 'pixel':
        radius = 5.0 if radius is None else float(radius)
        x, y = table_positions(catalog, 'catalog')
        centers = [PixCoord(xi, yi) for xi, yi in zip(x, y)]
        make = CirclePixelRegion
    elif coord == 'sky':
        if 'sky_centroid' not in catalog.colnames:
            msg = ("coord='sky' needs a 'sky_centroid' column (classify an "
                   "image with a WCS), or use coord='pixel'")
            raise ValueError(msg)
        radius = 0.2 * u.arcsec if radius is None else u.Quantity(radius, u.arcsec)
        sky = catalog['sky_centroid']
        centers = [sky[i] for i in range(len(catalog))] if isinstance(sky, SkyCoord) else list(sky)
        make = CircleSkyRegion
    else:
        msg = f"coord must be 'pixel' or 'sky', got {coord!r}"
        raise ValueError(msg)

    uncertain = uncertain_sources(catalog) if dash_uncertain else None
    regions = []
    for i, center in enumerate(centers):
        cls = None if mask[i] else int(classes[i])
        meta = {}
        if label:
            meta['text'] = '?' if cls is None else f'{cls} ({probs[i, cls - 1]:.2f})'
        visual = {'color': colors[cls]}
        if uncertain is not None and uncertain[i]:
            visual['linestyle'] = 'dashed'     # written as DS9 dash=1
        regions.append(make(center, radius, meta=meta, visual=visual))
    return Regions(regions)


def write_regions(regions, path, *, overwrite=False):
    """
    Write regions as a DS9 region file, atomically.

    Parameters
    ----------
    regions : `~regions.Regions`
    path : path-like
    overwrite : bool, optional
        Replace an existing file.
    """
    atomic_write(path, lambda tmp: regions.write(tmp, format='ds9', overwrite=True),
                 overwrite=overwrite, suffix='.reg')
