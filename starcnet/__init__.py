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
        'sim-small-v2',
        'Name of the model used when StarClusterClassifier is given none.')
    device = _config.ConfigItem(
        'auto',
        "Torch device for inference: 'auto' (CUDA when present, else CPU), "
        "'cpu', 'cuda' or 'cuda:N'.")
    batch_size = _config.ConfigItem(
        256, 'Number of cutouts classified per network call.', cfgtype='integer')
    tune_malloc = _config.ConfigItem(
        True,
        'On Linux with glibc, keep the large buffers of the network in the '
        'heap while a classifier runs on the CPU instead of mapping fresh '
        'pages for every batch (about 1.3x faster for the published-size '
        'network, 2x for the bundled model); afterwards the free heap goes '
        'back to the system.', cfgtype='boolean')


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
