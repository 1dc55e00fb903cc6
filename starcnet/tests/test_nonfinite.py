# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Non-finite network output is never reported as a class: NaN / inf
weights, a finite but extreme pixel, an e-/s scale that overflows.
Such sources are masked and flagged NONFINITE_OUTPUT (or, for pixels
that overflow float32 in e-/s, NONFINITE like any other bad pixel).
"""

import astropy.units as u
import numpy as np
import pytest
import torch
from astropy.nddata import NDData

from starcnet import CutoutFlag, MultiBandImage, StarClusterClassifier
from starcnet.conftest import STARCNET_BANDS, make_test_scene
from starcnet.cutouts import extract_cutouts
from starcnet.models.inference import Predictor, softmax
from starcnet.models.registry import load_model, read_weights, save_model

UNCLASSIFIED = CutoutFlag.UNCLASSIFIED
NONFINITE_OUTPUT = CutoutFlag.NONFINITE_OUTPUT


@pytest.fixture(scope='module')
def affine_model_path(tiny_model_path, tmp_path_factory):
    """The tiny model with the published (affine) normalisation."""
    network, _ = load_model(tiny_model_path)
    _, meta, _ = read_weights(tiny_model_path)
    meta = dict(meta, name='tiny-affine', normalization={
        'kind': 'affine', 'offset': [0.0] * 5, 'scale': [1.0] * 5})
    path = tmp_path_factory.mktemp('affine') / 'affine.safetensors'
    return save_model(network, path, meta)


def _check_catalog(catalog):
    """No class without finite probabilities; masked exactly where UNCLASSIFIED."""
    flags = np.asarray(catalog['starcnet_flags'])
    unclassified = (flags & UNCLASSIFIED) != 0
    assert np.array_equal(np.ma.getmaskarray(catalog['cluster_class']), unclassified)
    proba = np.stack([np.ma.getdata(catalog[f'prob_class{k}']) for k in range(1, 5)], 1)
    for k in range(1, 5):
        assert np.array_equal(np.ma.getmaskarray(catalog[f'prob_class{k}']), unclassified)
    ok = ~unclassified
    assert np.isfinite(proba[ok]).all()
    np.testing.assert_allclose(proba[ok].sum(1), 1, rtol=1e-5)
    return flags


def _poison(network):
    with torch.no_grad():
        weight = next(p for p in network.parameters() if p.ndim == 4)   # a conv
        weight[0, 0, 0, 0] = float('nan')


def test_predictor_nan_weights_give_nan_rows(tiny_model_path):
    network, info = load_model(tiny_model_path)
    _poison(network)
    cutouts = np.random.default_rng(0).normal(0.5, 0.1, (5, 5, 32, 32)).astype(np.float32)
    logits = Predictor(network, info.normalization).logits(cutouts)
    assert logits.shape == (5, 4) and np.isnan(logits).all()
    assert np.isnan(softmax(logits)).all()


def test_predictor_inf_row_is_nan_throughout(tiny_model_path):
    network, info = load_model(tiny_model_path)
    head = [p for p in network.parameters()][-1]    # the last bias
    with torch.no_grad():
        head[0] = float('inf')
    cutouts = np.random.default_rng(1).normal(0.5, 0.1, (3, 5, 32, 32)).astype(np.float32)
    logits = Predictor(network, info.normalization).logits(cutouts)
    assert np.isnan(logits).all()


def test_softmax_of_huge_finite_logits():
    logits = np.array([[3e38, -3e38, 0, 0], [1, 2, 3, 4], [np.nan, 0, 0, 0]], np.float32)
    proba = softmax(logits)
    np.testing.assert_allclose(proba[0], [1, 0, 0, 0])
    np.testing.assert_allclose(proba[1].sum(), 1, rtol=1e-6)
    assert np.isnan(proba[2]).all()
    # leading axes (an ensemble's members): the same, row by row
    stacked = np.stack([logits, logits[::-1]])
    np.testing.assert_array_equal(softmax(stacked), np.stack([proba, proba[::-1]]))


def test_classifier_nan_weights_masked_and_flagged(tiny_model_path, scene):
    bands, sources = scene
    clf = StarClusterClassifier(tiny_model_path, device='cpu')
    _poison(clf.network)
    catalog = clf(bands, sources)
    flags = _check_catalog(catalog)
    assert np.all(flags & NONFINITE_OUTPUT) and np.all(flags & UNCLASSIFIED)
    assert catalog['cluster_class'].mask.all()
    assert 'NONFINITE_OUTPUT' in catalog['starcnet_flags'].description
    assert catalog.meta['starcnet']['flags']['NONFINITE_OUTPUT'] == 64


def test_extreme_finite_pixel(affine_model_path, scene):
    """One pixel of 2.1e36 e-/s: the network overflows for that source only."""
    bands, sources = scene
    bands = {band: data.copy() for band, data in bands.items()}
    x0, y0 = int(sources['x'][0]), int(sources['y'][0])
    bands['F555W'][y0, x0] = 2.1e36
    clf = StarClusterClassifier(affine_model_path, device='cpu')
    assert np.isnan(clf.predict_logits(
        extract_cutouts(list(bands.values()), sources['x'][:1], sources['y'][:1])[0])).all()
    catalog = clf(bands, sources)
    flags = _check_catalog(catalog)
    # which sources share the pixel's cutout: only those are hit
    near = (np.abs(np.floor(sources['x']) - x0) <= 16) & (np.abs(np.floor(sources['y']) - y0) <= 16)
    assert flags[0] == UNCLASSIFIED | NONFINITE_OUTPUT
    assert not np.any(flags[~near] & NONFINITE_OUTPUT)
    assert (~catalog['cluster_class'].mask[~near]).all()


def _electrons(bands, exptime):
    return MultiBandImage({band: NDData(data, unit=u.electron, meta={'EXPTIME': exptime})
                           for band, data in bands.items()})


def test_exptime_scale_that_overflows():
    """Finite in electrons, beyond float32 once divided by EXPTIME."""
    bands, sources = make_test_scene()
    bands = {band: data.copy() for band, data in bands.items()}
    x = np.floor(np.asarray(sources['x'])).astype(int)
    y = np.floor(np.asarray(sources['y'])).astype(int)
    bands['F336W'][y[0], x[0]] = 1e10            # in the core of source 0
    bands['F336W'][y[1] + 14, x[1] - 14] = 1e10  # off the core of source 1
    image = _electrons(bands, 1e-30)             # 1e10 e- -> 1e40 e-/s
    from starcnet.cutouts import image_cutouts

    cutouts, flags, _ = image_cutouts(image, sources['x'], sources['y'])
    assert np.isfinite(cutouts).all()
    assert flags[0] == CutoutFlag.NONFINITE | UNCLASSIFIED
    assert flags[1] == CutoutFlag.NONFINITE
    others = [k for k in range(2, len(sources))
              if abs(x[k] - x[0]) > 16 or abs(y[k] - y[0]) > 16]
    assert not np.any(flags[others])


def test_classifier_exptime_overflow(tiny_model_path):
    bands, sources = make_test_scene()
    bands = {band: data.copy() for band, data in bands.items()}
    x0, y0 = int(sources['x'][0]), int(sources['y'][0])
    bands['F814W'][y0, x0] = 1e10
    catalog = StarClusterClassifier(tiny_model_path, device='cpu')(
        _electrons(bands, 1e-30), sources)
    flags = _check_catalog(catalog)
    assert flags[0] & UNCLASSIFIED and flags[0] & CutoutFlag.NONFINITE
    assert np.ma.is_masked(catalog['cluster_class'][0])


def test_float64_pixel_beyond_float32():
    data = np.ones((64, 64))
    data[31, 31] = 1e300
    data[31, 50] = -1e300
    arrays = [data] * len(STARCNET_BANDS)
    cutouts, flags = extract_cutouts(arrays, [31.0, 45.0], [31.0, 31.0])
    assert np.isfinite(cutouts).all()
    assert flags[0] == CutoutFlag.NONFINITE | UNCLASSIFIED
    assert flags[1] == CutoutFlag.NONFINITE | UNCLASSIFIED
