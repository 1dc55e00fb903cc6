"""Tests of the independent ``kingsim`` candidate generator."""

import numpy as np
import pytest
from astropy.table import QTable

from starcnet.evaluation.kingsim import (BANDS, make_scene, measure_at,
                                         simulate_candidates)


@pytest.fixture(scope="module")
def sample():
    return simulate_candidates(12, seed=7, return_truth=True)


def test_shapes_dtypes_balance(sample):
    cut, lab, truth = sample
    assert cut.shape == (48, 5, 32, 32)
    assert cut.dtype == np.float32
    assert lab.shape == (48,)
    assert np.issubdtype(lab.dtype, np.integer)
    assert np.array_equal(np.bincount(lab, minlength=5)[1:], [12, 12, 12, 12])
    assert np.all(np.isfinite(cut))
    assert len(truth) == 48
    # shuffled, not sorted by class
    assert not np.all(np.diff(lab) >= 0)


def test_unequal_counts_and_empty():
    cut, lab = simulate_candidates([2, 0, 1, 3], seed=1)
    assert np.array_equal(np.bincount(lab, minlength=5)[1:], [2, 0, 1, 3])
    cut, lab = simulate_candidates(0, seed=1)
    assert cut.shape == (0, 5, 32, 32) and lab.shape == (0,)
    with pytest.raises(ValueError):
        simulate_candidates(-1)


def test_reproducible():
    a, la = simulate_candidates(2, seed=123)
    b, lb = simulate_candidates(2, seed=123)
    c, _ = simulate_candidates(2, seed=124)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)
    d, _ = simulate_candidates(2, seed=np.random.default_rng(123))
    assert np.array_equal(a, d)


def test_realistic_levels(sample):
    cut, _, _ = sample
    # mean pixel values of real NGC 1566 cutouts, e-/s (brief); the typical
    # (median) cutout mean within x3 (the mean itself is dominated by a few
    # cutouts holding bright stars)
    real = np.array([0.0238, 0.138, 0.145, 0.254, 0.390])
    mean = np.median(cut.mean(axis=(2, 3)), axis=0)
    assert np.all(mean > real / 3) and np.all(mean < real * 3)
    # the source is at the cutout centre: brightest V pixels near (15, 15)
    v = cut[:, 3]
    centre = v[:, 13:19, 13:19].mean(axis=(1, 2))
    edge = np.concatenate([v[:, :4].reshape(len(v), -1), v[:, -4:].reshape(len(v), -1)], 1)
    assert np.median(centre / np.median(edge, axis=1)) > 2


def _asymmetry(cut, xc, yc):
    """180-degree rotational asymmetry of the V light within 5 px."""
    from scipy.ndimage import shift

    out = []
    for img, x, y in zip(cut[:, 3].astype(float), xc, yc):
        c = shift(img, (15 - y, 15 - x), order=1, mode="nearest")[:31, :31]
        yy, xx = np.indices(c.shape)
        r = np.hypot(xx - 15, yy - 15)
        c = c - np.median(c[(r >= 7) & (r < 9)])
        inner = r < 5
        out.append(np.abs(c - c[::-1, ::-1])[inner].sum() / np.abs(c)[inner].sum())
    return np.array(out)


def test_class1_more_symmetric_than_class3():
    cut, lab, truth = simulate_candidates([30, 0, 30, 0], seed=11, return_truth=True)
    a = _asymmetry(cut, np.asarray(truth["xc"]), np.asarray(truth["yc"]))
    assert np.median(a[lab == 1]) < 0.8 * np.median(a[lab == 3])


def test_measured_photometry_follows_legus(sample):
    cut, lab, truth = sample
    m = measure_at(cut, np.asarray(truth["xc"]), np.asarray(truth["yc"]))
    ci = m["ci"]
    assert np.nanmedian(ci) > 1.35 and np.nanmedian(ci) < 1.9
    v = m["mag"][:, 3]
    assert 21.0 < np.nanmedian(v) < 23.8
    # measured CI follows the catalog CI each object was drawn to match
    ok = np.isfinite(ci)
    assert np.corrcoef(ci[ok], np.asarray(truth["ci_target"])[ok])[0, 1] > 0.5


def test_scene():
    images, truth = make_scene(shape=(256, 200), n_sources=20, seed=3)
    assert set(images) == set(BANDS)
    for b in BANDS:
        assert images[b].shape == (256, 200) and images[b].dtype == np.float32
        assert np.all(np.isfinite(images[b]))
    assert isinstance(truth, QTable) and len(truth) == 20
    assert set(truth["true_class"]) <= {1, 2, 3, 4}
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    assert np.all((x > 10) & (x < 190) & (y > 10) & (y < 246))
    # the truth positions hold sources: V light there beats random positions
    v = images["F555W"]
    at = v[np.floor(y).astype(int), np.floor(x).astype(int)]
    rng = np.random.default_rng(0)
    rand = v[rng.integers(0, 256, 500), rng.integers(0, 200, 500)]
    assert np.median(at) > 3 * np.median(rand)
    with pytest.raises(ValueError):
        make_scene(shape=(32, 32))
