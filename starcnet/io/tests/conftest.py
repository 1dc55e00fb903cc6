# Licensed under a 3-clause BSD style license - see LICENSE.rst

import numpy as np
import pytest

from starcnet.conftest import make_test_scene


@pytest.fixture(scope='module')
def classified(tiny_model_path):
    """
    A classified catalog with a WCS (so ``sky_centroid``) and one source
    outside the image, which is not classified (masked).
    """
    from starcnet import MultiBandImage, StarClusterClassifier
    from starcnet.simulation.demo import demo_wcs

    bands, sources = make_test_scene()
    sources.add_row({'x': -60.0, 'y': 100.0})
    image = MultiBandImage(bands, wcs=demo_wcs(240))
    catalog = StarClusterClassifier(tiny_model_path)(image, sources)
    assert np.ma.getmaskarray(catalog['cluster_class']).tolist() == [False] * 12 + [True]
    return catalog
