# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Facts of LEGUS and of the published StarcNet network.

The one place where the bands, the classes, the cutout geometry and the
published network's input levels are written down; every other module
imports them from here.

Sources: Calzetti et al. (2015, AJ 149, 51) for the survey and its
bands; Adamo et al. (2017, ApJ 841, 131) for the classes and the
catalog conventions; Pérez et al. (2021, ApJ 907, 100) and its code
for the network's bands, cutout size and input offsets.
"""

__all__ = ['BANDS', 'BAND_EQUIVALENTS', 'LEGUS_CLASSES', 'CLUSTER_CLASSES',
           'CLASS_NAMES', 'CUTOUT_SIZE', 'CORE', 'PIXEL_SCALE',
           'PUBLISHED_BAND_OFFSETS', 'MAG_NOT_DETECTED', 'MAG_OUTSIDE_FOOTPRINT']

#: The five LEGUS bands, in the order of the catalogs' magnitude columns
#: and of the published network's input channels (WFC3/UVIS names; on
#: ACS fields the third and fourth are F435W and F555W or F606W).
BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')

#: Filters that may stand in for a model band (WFC3/UVIS and ACS/WFC
#: filters of similar pass band, used interchangeably by LEGUS).
BAND_EQUIVALENTS = {'F438W': ('F435W',), 'F435W': ('F438W',),
                    'F555W': ('F606W',), 'F606W': ('F555W',)}

#: The four LEGUS morphological classes.
LEGUS_CLASSES = (1, 2, 3, 4)

#: Classes counted as clusters in the binary split of Pérez et al.
#: (2021): symmetric (1) and asymmetric (2) clusters, against
#: associations (3) and non-clusters (4).
CLUSTER_CLASSES = (1, 2)

#: Names of the four LEGUS morphological classes (Adamo et al. 2017).
CLASS_NAMES = {1: 'symmetric cluster', 2: 'asymmetric cluster',
               3: 'association', 4: 'non-cluster'}

#: Side of a StarcNet cutout in pixels (the candidate sits at pixel
#: ``CUTOUT_SIZE // 2`` of both axes; see `starcnet.cutouts.cutout_origin`).
CUTOUT_SIZE = 32

#: The central region (rows and columns) that the smallest StarcNet
#: scale sees; a source with any bad pixel in it is not classified.
CORE = slice(11, 22)

#: Pixel scale of the LEGUS drizzled mosaics, arcsec per pixel.
PIXEL_SCALE = 0.0396

#: Per-band offsets (e-/s) that the published network subtracts from
#: its inputs (the mean pixel of its training cutouts), in `BANDS` order.
PUBLISHED_BAND_OFFSETS = (0.02376737, 0.13796899, 0.14457473, 0.2542926, 0.39018805)

#: LEGUS catalog magnitude of a source not detected in a band.
MAG_NOT_DETECTED = 99.999

#: LEGUS catalog magnitude of a source outside a band's footprint.
MAG_OUTSIDE_FOOTPRINT = 66.666
