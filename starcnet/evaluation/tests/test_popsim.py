"""Tests of the popsim evaluation generator."""
import numpy as np
import pytest

from starcnet.evaluation.popsim import make_scene, simulate_candidates
from starcnet.evaluation.popsim.core import simulate_with_truth
from starcnet.evaluation.popsim.optics import system_otf
from starcnet.evaluation.popsim.recipes import _star_ci


@pytest.fixture(scope='module')
def sample():
    return simulate_with_truth(4, seed=7)


def test_shapes_dtypes_balance(sample):
    x, y, truth = sample
    assert x.shape == (16, 5, 32, 32)
    assert x.dtype == np.float32
    assert y.dtype.kind == 'i'
    assert np.all(np.isfinite(x))
    assert np.bincount(y, minlength=5)[1:].tolist() == [4, 4, 4, 4]
    assert len(truth) == 16
    # shuffled, not sorted by class
    assert not np.all(np.diff(y) >= 0)


def test_reproducible_and_list_counts():
    a, la = simulate_candidates([1, 0, 2, 1], seed=3)
    b, lb = simulate_candidates([1, 0, 2, 1], seed=np.random.default_rng(3))
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert sorted(la.tolist()) == [1, 3, 3, 4]
    c, _ = simulate_candidates([1, 0, 2, 1], seed=4)
    assert not np.array_equal(a, c)


def test_psf_normalised_and_stellar_ci():
    for b in range(5):
        f = system_otf(b, 32, 0.7)
        assert f[0, 0] == pytest.approx(1.0)
    assert 1.05 < _star_ci() < 1.4


def test_source_at_catalog_position(sample):
    x, y, truth = sample
    # the candidate is brighter near its catalog position than the cutout median
    for cut, t in zip(x, truth):
        ix, iy = int(t['x']), int(t['y'])
        core = cut[3, iy - 1:iy + 3, ix - 1:ix + 3]
        assert core.max() > np.median(cut[3]) + 1e-3


def _asymmetry(img, x, y, r=4):
    ix, iy = int(round(x)), int(round(y))
    w = img[iy - r:iy + r + 1, ix - r:ix + r + 1].astype(float)
    w = w - np.median(img)
    return np.abs(w - w[::-1, ::-1]).sum() / np.abs(w).sum()


def test_class1_more_symmetric_than_class3():
    # class 1 clusters are symmetric single-centred, class 3 associations
    # multi-peaked and asymmetric: the 180-degree rotational asymmetry of
    # the F555W core must be smaller for class 1 on average
    x, y, truth = simulate_with_truth([8, 0, 8, 0], seed=11)
    a = np.array([_asymmetry(c[3], t['x'], t['y']) for c, t in zip(x, truth)])
    assert np.mean(a[y == 1]) < np.mean(a[y == 3])
    assert {t['recipe'] for t, k in zip(truth, y) if k == 3} == {'association'}


def test_scene():
    images, truth = make_scene((96, 128), n_sources=6, seed=5)
    assert sorted(images) == ['F275W', 'F336W', 'F438W', 'F555W', 'F814W']
    for img in images.values():
        assert img.shape == (96, 128) and img.dtype == np.float32
        assert np.all(np.isfinite(img))
    assert len(truth) == 6
    assert set(truth.colnames) >= {'x', 'y', 'true_class'}
    v = images['F555W']
    bright = [v[int(np.floor(r['y'])) - 1:int(np.floor(r['y'])) + 3,
                int(np.floor(r['x'])) - 1:int(np.floor(r['x'])) + 3].max() for r in truth]
    # every truth position holds a source well above the typical pixel
    assert np.all(np.array(bright) > np.percentile(v, 75))
    images2, truth2 = make_scene((96, 128), n_sources=6, seed=5)
    assert np.array_equal(images['F814W'], images2['F814W'])
