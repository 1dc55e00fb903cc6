# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Bands without data over a cutout (outside a band's footprint: zeros in
drizzled mosaics, NaN, or a zero weight map as the mask): flagged
MISSING_BAND and classified from the other bands.
"""

import numpy as np
import pytest
import torch

from starcnet import CutoutFlag, MultiBandImage, StarClusterClassifier
from starcnet.conftest import make_test_scene
from starcnet.cutouts import extract_cutouts
from starcnet.images import STARCNET_BANDS
from starcnet.models.inference import softmax
from starcnet.models.network import StarcNet
from starcnet.models.registry import save_model
from starcnet.normalization import Normalization


@pytest.fixture(scope='module')
def local_model_path(tmp_path_factory):
    torch.manual_seed(1)
    module = StarcNet(width=8)
    path = tmp_path_factory.mktemp('models') / 'local.safetensors'
    save_model(module, path, {'bands': list(STARCNET_BANDS),
                              'normalization': {'kind': 'local', 'stretch': 1.5},
                              'temperature': 1.3})
    return path


@pytest.fixture(scope='module')
def wide_scene():
    return make_test_scene(shape=(200, 400), n=30, seed=4)


def _arrays(bands):
    return [bands[b] for b in STARCNET_BANDS]


def test_extract_cutouts_missing():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(1, 0.1, (80, 120)).astype(np.float32) for _ in range(5)]
    arrays[0][:, 60:] = 0.0          # F275W footprint ends at x = 60
    arrays[2][:, 60:] = np.nan
    arrays[4][:, :] = 0.0
    arrays[4][:, :20] = 1.0
    x, y = [20.0, 90.0, 55.0, 90.0, 140.0], [40.0, 40.0, 40.0, 70.0, 40.0]
    cutouts, flags, missing = extract_cutouts(arrays, x, y, return_missing=True)
    assert missing.shape == (5, 5) and missing.dtype == bool
    # inside the footprints: nothing missing (band 4 has data at x < 20)
    assert flags[0] == 0 and not missing[0].any()
    # beyond x = 60 + 16: bands 0, 2 and 4 have no data, classified
    assert list(missing[1]) == [True, False, True, False, True]
    assert flags[1] == CutoutFlag.MISSING_BAND
    assert np.all(cutouts[1, [0, 2, 4]] == 0)
    assert np.all(np.isfinite(cutouts))
    # a cutout across the footprint edge has data: NaN over its core
    # makes it unclassified, as before
    assert not missing[2, 2] and flags[2] & CutoutFlag.UNCLASSIFIED
    assert flags[2] & CutoutFlag.NONFINITE
    # at the edge, only the pixels inside the image count
    assert flags[3] & CutoutFlag.EDGE and flags[3] & CutoutFlag.MISSING_BAND
    assert not flags[3] & CutoutFlag.UNCLASSIFIED
    assert list(missing[3]) == [True, False, True, False, True]
    # outside the image: OUTSIDE, not MISSING_BAND
    assert flags[4] & CutoutFlag.OUTSIDE and flags[4] & CutoutFlag.UNCLASSIFIED
    assert not flags[4] & CutoutFlag.MISSING_BAND
    # the default return value is unchanged
    assert len(extract_cutouts(arrays, x, y)) == 2
    np.testing.assert_array_equal(extract_cutouts(arrays, x, y)[1], flags)


def test_all_bands_missing_or_masked():
    arrays = [np.zeros((60, 60), np.float32) for _ in range(5)]
    arrays[1][:] = np.nan
    _, flags, missing = extract_cutouts(arrays, [30.0], [30.0], return_missing=True)
    assert missing.all()
    assert flags[0] == CutoutFlag.MISSING_BAND | CutoutFlag.UNCLASSIFIED
    # a zero weight map given as the mask
    rng = np.random.default_rng(1)
    arrays = [rng.normal(1, 0.1, (60, 60)).astype(np.float32) for _ in range(5)]
    masks = [None, np.ones((60, 60), bool), None, None, None]
    masks[1][:, :5] = False
    _, flags, missing = extract_cutouts(arrays, [40.0, 10.0], [30.0, 30.0], masks=masks,
                                        return_missing=True)
    assert list(missing[0]) == [False, True, False, False, False]
    assert flags[0] == CutoutFlag.MISSING_BAND      # not MASKED, not UNCLASSIFIED
    assert not missing[1].any() and flags[1] & CutoutFlag.MASKED


@pytest.mark.parametrize('fill', [0.0, np.nan])
@pytest.mark.parametrize('model', ['tiny', 'local'])
def test_half_a_band_missing(fill, model, wide_scene, tiny_model_path, local_model_path):
    bands, sources = wide_scene
    path = tiny_model_path if model == 'tiny' else local_model_path
    clf = StarClusterClassifier(path, device='cpu', batch_size=7)
    broken = {b: d.copy() for b, d in bands.items()}
    broken['F275W'][:, 200:] = fill
    cat = clf(MultiBandImage(broken), sources)
    x = np.asarray(sources['x'])
    beyond = x >= 200 + 16          # cutout wholly outside the F275W footprint
    inside = x < 200 - 17
    flags = np.asarray(cat['starcnet_flags'])
    assert beyond.sum() >= 5 and inside.sum() >= 5
    assert np.all(flags[beyond] & CutoutFlag.MISSING_BAND)
    assert not np.any(flags[inside])
    classified = ~np.asarray(cat['cluster_class'].mask)
    assert classified[beyond].all() and classified[inside].all()
    # the same as the intact cutouts with F275W's normalised input zeroed
    cutouts, _ = extract_cutouts(_arrays(bands), sources['x'], sources['y'])
    norm = Normalization.from_metadata(clf.model_info.normalization)
    net_input = norm.apply(cutouts)
    net_input[beyond, 0] = 0.0
    with torch.inference_mode():
        logits = clf.network(torch.from_numpy(net_input)).numpy()
    expected = softmax(logits / clf.temperature)
    got = np.column_stack([np.asarray(cat[f"prob_class{k}"].filled(np.nan))
                           for k in range(1, 5)])
    np.testing.assert_allclose(got[beyond], expected[beyond], atol=1e-5)
    np.testing.assert_allclose(got[inside], expected[inside], atol=1e-5)
    # documented in the column and the meta
    assert 'MISSING_BAND' in cat['starcnet_flags'].description
    assert cat.meta['starcnet']['flags']['MISSING_BAND'] == 32


def test_predict_logits_missing_argument(tiny_model_path, wide_scene):
    bands, sources = wide_scene
    clf = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=4)
    cutouts, _ = extract_cutouts(_arrays(bands), sources['x'][:6], sources['y'][:6])
    missing = np.zeros((6, 5), bool)
    missing[2, 3] = missing[4, 0] = True
    ref = clf.network(torch.from_numpy(
        Normalization.from_metadata(clf.model_info.normalization).apply(
            cutouts, missing=missing))).detach().numpy()
    np.testing.assert_allclose(clf.predict_logits(cutouts, missing), ref, atol=1e-5)
    assert not np.allclose(clf.predict_logits(cutouts)[2], ref[2], atol=1e-4)
