# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Reading and writing catalogs and regions: source catalogs of any format
in (`read_sources`), classified catalogs out as ECSV or VOTable
(`write_catalog`, `read_catalog`), DS9 regions (`catalog_to_regions`,
`write_regions`), and both sent to TOPCAT and DS9 over SAMP
(`starcnet.io.samp`, which needs pyvo).
"""

from .core import CATALOG_FORMATS, catalog_format, read_catalog, write_catalog
from .ds9 import CLASS_COLORS, catalog_to_regions, write_regions
from .ecsv import read_ecsv, write_ecsv
from .sources import SOURCE_FORMATS, read_sources, source_format
from .votable import read_votable, write_votable

__all__ = ['CATALOG_FORMATS', 'SOURCE_FORMATS', 'CLASS_COLORS', 'catalog_format',
           'source_format', 'write_catalog', 'read_catalog', 'write_ecsv',
           'read_ecsv', 'write_votable', 'read_votable', 'read_sources',
           'catalog_to_regions', 'write_regions']
