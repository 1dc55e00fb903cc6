# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""The LEGUS facts are written once and imported everywhere."""

import numpy as np

from starcnet import catalogs, cutouts, images, legus, metrics
from starcnet.models import get_model_info
from starcnet.simulation import _data


def test_one_definition():
    assert images.STARCNET_BANDS is legus.BANDS
    assert catalogs.LEGUS_BANDS is legus.BANDS
    assert _data.BANDS is legus.BANDS
    assert metrics.LEGUS_CLASSES is legus.LEGUS_CLASSES
    assert metrics.CLASS_NAMES is legus.CLASS_NAMES
    assert metrics.CLUSTER_CLASSES is legus.CLUSTER_CLASSES
    assert _data.CLASS_NAMES is legus.CLASS_NAMES
    assert cutouts.CUTOUT_SIZE == legus.CUTOUT_SIZE
    assert images.BAND_EQUIVALENTS is legus.BAND_EQUIVALENTS


def test_published_levels():
    info = get_model_info('legus-2021')
    assert tuple(info.bands) == legus.BANDS
    np.testing.assert_array_equal(info.normalization.to_metadata()['offset'],
                                  legus.PUBLISHED_BAND_OFFSETS)
    np.testing.assert_array_equal(_data.MEAN_PIXEL, legus.PUBLISHED_BAND_OFFSETS)
    assert info.classes == legus.CLASS_NAMES
    # the cutout geometry: the core is centred on the candidate's pixel
    core = np.arange(legus.CUTOUT_SIZE)[legus.CORE]
    assert core.mean() == legus.CUTOUT_SIZE // 2
