# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
starcnet: classify star-cluster candidates in multi-band HST images
with the StarcNet multi-scale convolutional network (Pérez et al. 2021,
ApJ 907, 100).
"""

from astropy import config as _config

try:
    from .version import version as __version__
except ImportError:  # pragma: no cover - only without an installed package
    __version__ = '0.0.0'


class Conf(_config.ConfigNamespace):
    """
    Configuration parameters for `starcnet`.

    Set them for a session with ``starcnet.conf.batch_size = 512`` or
    persistently in ``~/.astropy/config/starcnet.cfg``.
    """

    default_model = _config.ConfigItem(
        'sim-small-v5',
        'Name of the model used when StarClusterClassifier is given none.')
    device = _config.ConfigItem(
        'auto',
        "Torch device for inference: 'auto' (CUDA when present, else CPU), "
        "'cpu', 'cuda' or 'cuda:N'.")
    batch_size = _config.ConfigItem(
        256, 'Number of cutouts classified per network call.', cfgtype='integer')
    tune_malloc = _config.ConfigItem(
        True,
        'On Linux with glibc, whether starcnet.utils.large_cpu_buffers may '
        'keep the large buffers of the network in the heap instead of mapping '
        'fresh pages for every batch (about 1.3x faster on a CPU for the '
        'published-size network, 2x for the bundled model).  The library '
        'never does this by itself; the starcnet command line and the Dask '
        'workers that starcnet.distributed starts, which own their process, '
        'do, and so does a program that enters large_cpu_buffers().  It '
        'changes glibc for the rest of the process (its adaptive thresholds '
        'cannot be switched on again).  False switches it off everywhere.', cfgtype='boolean')


conf = Conf()

from .catalogs import read_legus, read_sextractor  # noqa: E402
from .classifier import StarClusterClassifier  # noqa: E402
from .cutouts import CutoutFlag  # noqa: E402
from .detection import find_candidates  # noqa: E402
from .images import MultiBandImage  # noqa: E402
from .io import catalog_to_regions, read_catalog, write_catalog, write_regions  # noqa: E402

__all__ = ['conf', 'Conf', '__version__', 'StarClusterClassifier',
           'MultiBandImage', 'CutoutFlag', 'find_candidates',
           'catalog_to_regions', 'write_catalog', 'read_catalog',
           'write_regions', 'read_legus', 'read_sextractor']
