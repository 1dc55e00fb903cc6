# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the synthetic LEGUS-like data."""

import numpy as np
import pytest
from astropy.stats import sigma_clipped_stats
from astropy.table import QTable
from photutils.detection import DAOStarFinder

from starcnet import simulation
from starcnet.simulation import (BANDS, concentration_index, load_psfs,
                                 make_scene, mag_to_flux, simulate_candidates,
                                 simulate_cutouts)
from starcnet.simulation._data import magnitude_offsets
from starcnet.simulation.candidates import _passes_cut
from starcnet.simulation.psf import PSF_FAMILIES, _psf_taper, draw_psfs
from starcnet.simulation.recipes import _ryon_gamma, ci_table, neighbours, size_for_ci
from starcnet.simulation.render import PROFILES, profile_stamps


@pytest.fixture(scope='module')
def sample():
    """60 cutouts of each class (module-scoped: about half a second)."""
    return simulate_candidates(60, seed=11)


def _background(cutouts):
    flat = cutouts.reshape(*cutouts.shape[:-2], -1)
    return np.median(flat, axis=-1)


def test_psfs():
    psfs = load_psfs()
    assert tuple(psfs) == BANDS
    for psf in psfs.values():
        assert psf.shape == (41, 41)
        assert np.isclose(psf.sum(), 1.0)
        assert np.unravel_index(np.argmax(psf), psf.shape) == (20, 20)
    # a copy: callers cannot damage the cached PSFs
    psfs['F555W'][:] = 0
    assert load_psfs()['F555W'].sum() == pytest.approx(1.0)
    acs = load_psfs('acs')
    assert tuple(acs) == BANDS
    assert not np.array_equal(acs['F814W'], load_psfs()['F814W'])
    with pytest.raises(ValueError, match='PSF family'):
        load_psfs('nircam')


def test_zeropoint():
    assert mag_to_flux(25.81, 'F555W') == pytest.approx(1.0)
    assert mag_to_flux(20.81, 'F555W') == pytest.approx(100.0)


def test_class_photometry():
    table = simulation.load_class_photometry()
    assert set(table['class']) == {1, 2, 3, 4}
    assert 1000 < len(table) < 5000
    good = table['mag_F555W'] < 60
    assert np.all(good)
    assert 18 < np.median(table['mag_F555W']) < 25


def test_shapes_and_dtype(sample):
    cutouts, labels = sample
    assert cutouts.shape == (240, 5, 32, 32)
    assert cutouts.dtype == np.float32
    assert np.all(np.isfinite(cutouts))
    assert labels.dtype.kind == 'i'
    assert np.array_equal(np.bincount(labels), [0, 60, 60, 60, 60])


def test_simulate_cutouts_keeps_order():
    labels = np.array([4, 1, 3, 2, 1])
    cutouts, out = simulate_cutouts(labels, seed=3)
    assert cutouts.shape == (5, 5, 32, 32)
    assert np.array_equal(out, labels)


def test_units(sample):
    cutouts, _ = sample
    bg = _background(cutouts)
    median_bg = np.median(bg, axis=0)
    # sky + diffuse light of order 0.01-0.5 e-/s, redder bands brighter
    assert 0.02 < median_bg[BANDS.index('F555W')] < 0.5
    assert 0.001 < median_bg[BANDS.index('F275W')] < 0.1
    assert median_bg[BANDS.index('F814W')] > median_bg[BANDS.index('F275W')]
    # candidates are bright, well above the background, in F555W
    v = cutouts[:, BANDS.index('F555W')]
    peak = v[:, 13:19, 13:19].max(axis=(1, 2)) - bg[:, BANDS.index('F555W')]
    noise = 1.4826 * np.median(np.abs(v - bg[:, 3, None, None]), axis=(1, 2))
    assert np.median(peak / noise) > 10


def test_centred(sample):
    cutouts, labels = sample
    v = cutouts[labels == 1, BANDS.index('F555W')]
    v = v - _background(v)[:, None, None]
    box = np.clip(v[:, 12:20, 12:20], 0, None)
    yy, xx = np.mgrid[12:20, 12:20]
    xc = (box * xx).sum((1, 2)) / box.sum((1, 2))
    yc = (box * yy).sum((1, 2)) / box.sum((1, 2))
    # the source centre is at (15 + fx, 15 + fy), fx, fy uniform in [0, 1)
    assert 15.2 < np.median(xc) < 15.8
    assert 15.2 < np.median(yc) < 15.8


def test_class1_more_concentrated_than_class3(sample):
    cutouts, labels = sample
    v = cutouts[:, BANDS.index('F555W')]
    v = v - _background(v)[:, None, None]
    ci = concentration_index(v, 15.5, 15.5)
    ci1 = np.nanmedian(ci[labels == 1])
    ci3 = np.nanmedian(ci[labels == 3])
    # the real LEGUS medians differ by 0.08 mag (1.56 and 1.64)
    assert ci3 > ci1
    # and class 1 is more extended than a point source
    assert ci1 > ci_table()[0]


def test_concentration_index_point_source():
    psf = np.zeros((21, 21))
    psf[10, 10] = 1.0
    assert concentration_index(psf, 10, 10) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(concentration_index(np.zeros((21, 21)), 10, 10))


def test_reproducible():
    a, la = simulate_candidates(3, seed=5)
    b, lb = simulate_candidates(3, seed=5)
    c, _ = simulate_candidates(3, seed=6)
    assert np.array_equal(a, b)
    assert np.array_equal(la, lb)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize('labels', [[0, 1], [1, 5], [1.0, 2.0], [[1, 2]]])
def test_bad_labels(labels):
    with pytest.raises(ValueError, match='labels'):
        simulate_cutouts(np.array(labels))


def test_bad_size():
    with pytest.raises(ValueError, match='32x32'):
        simulate_cutouts([1], size=64)


@pytest.fixture(scope='module')
def scene():
    return make_scene(seed=7)


def test_scene(scene):
    images, truth = scene
    assert tuple(images) == BANDS
    for image in images.values():
        assert image.shape == (512, 512)
        assert image.dtype == np.float32
        assert np.all(np.isfinite(image))
    assert isinstance(truth, QTable)
    assert len(truth) == 150
    assert set(truth.colnames) >= {'x', 'y', 'true_class'}
    assert set(np.unique(truth['true_class'])) <= {1, 2, 3, 4}
    assert np.all((truth['x'] >= 20) & (truth['x'] <= 491))
    assert np.all((truth['y'] >= 20) & (truth['y'] <= 491))
    x, y = np.asarray(truth['x']), np.asarray(truth['y'])
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    d[np.diag_indices_from(d)] = np.inf
    assert d.min() >= 12.0


def test_scene_detection(scene):
    images, truth = scene
    data = images['F555W']
    _, median, std = sigma_clipped_stats(data, sigma=3.0)
    sources = DAOStarFinder(fwhm=2.5, threshold=5 * std)(data - median)
    x, y = np.asarray(sources['x_centroid']), np.asarray(sources['y_centroid'])
    d = np.hypot(np.asarray(truth['x'])[:, None] - x[None],
                 np.asarray(truth['y'])[:, None] - y[None]).min(axis=1)
    assert np.mean(d < 2.0) > 0.7
    compact = np.asarray(truth['true_class']) == 1
    assert np.mean(d[compact] < 2.0) > 0.85


def test_scene_reproducible():
    a, ta = make_scene((128, 160), 10, n_field_stars=20, seed=1)
    b, tb = make_scene((128, 160), 10, n_field_stars=20, seed=1)
    assert a['F555W'].shape == (128, 160)
    assert all(np.array_equal(a[band], b[band]) for band in BANDS)
    assert np.array_equal(ta['x'], tb['x'])


def test_magnitude_offsets():
    offsets = magnitude_offsets()
    assert offsets.shape == (5,)
    # rendered at most a magnitude brighter than the catalog magnitudes
    assert np.all((offsets[1:] <= 0.2) & (offsets[1:] > -1.0))


def test_class4_extended(sample):
    """Class 4 candidates passed the LEGUS extended-source cut."""
    cutouts, labels = sample
    v = cutouts[:, BANDS.index('F555W')]
    v = v - _background(v)[:, None, None]
    ci = concentration_index(v, 15.5, 15.5)
    star = ci_table()[0]
    assert np.nanmedian(ci[labels == 4]) > star + 0.1


def test_psf_taper():
    taper = _psf_taper()
    assert taper.shape == (41, 41)
    assert taper[20, 20] == 1.0
    assert taper[0, 0] == 0.0 and taper[0, 20] < 0.02


@pytest.mark.parametrize('family', list(PSF_FAMILIES))
def test_psf_families(family):
    """Each family gives unit-flux PSFs peaked at (0, 0), registered within 0.5 px."""
    rng = np.random.default_rng(3)
    transfer, info = draw_psfs(rng, 4, (64, 64), families={family: 1.0})
    assert transfer.shape == (4, 5, 64, 33)
    assert np.all(info['family'] == family)
    assert np.allclose(transfer[..., 0, 0].real, 1.0, atol=1e-5)
    img = np.fft.irfft2(transfer, s=(64, 64))
    img = np.roll(img, (32, 32), axis=(-2, -1))
    peak = np.array(np.unravel_index(np.argmax(img.reshape(20, -1), axis=1), (64, 64)))
    assert np.all(np.abs(peak - 32) <= 1)
    assert np.all(np.abs(info['shift']) <= 0.5)
    # the core is as wide as an HST PSF on the LEGUS grid: FWHM 1.3-3.5 px
    assert np.all((info["fwhm"] > 1.3) & (info["fwhm"] < 3.5))


def test_profiles_unit_flux():
    rng = np.random.default_rng(0)
    n = 3
    for kind in PROFILES:
        stamps = profile_stamps(kind, rng.uniform(0, 1, n), rng.uniform(0, 1, n),
                                np.full(n, 1.5), np.full(n, 3.0), np.ones(n),
                                np.zeros(n), np.zeros(n), np.zeros(n))
        assert np.allclose(stamps.sum((1, 2)), 1.0)
        assert np.all(stamps >= 0)
        assert np.all(np.abs(np.array(np.unravel_index(
            np.argmax(stamps.reshape(n, -1), axis=1), (24, 24))) - 12) <= 1)


@pytest.mark.parametrize('kind,shape', [('eff', 2.8), ('king', 30.0), ('sersic', 2.0)])
def test_ci_tables_monotonic(kind, shape):
    star, sizes, cis = ci_table(kind, shape)
    assert np.all(np.diff(cis) >= 0)
    assert cis[-1] > 2.0 > star
    # a profile sized for CI 1.8 measures about 1.8 through the reference PSF
    rng = np.random.default_rng(1)
    size = size_for_ci(1.8, rng, kind, shape)
    assert 0.2 < size < 8


def test_candidates_pass_ci_cut(sample):
    """Every simulated candidate passed the LEGUS-like extended-source cut."""
    cutouts, _ = sample
    assert np.all(_passes_cut(cutouts))


def test_ryon_slopes():
    table = simulation.load_ryon2017()
    assert len(table) == 515
    assert set(np.unique(table['fvis'])) <= {0, 1, 2}
    rng = np.random.default_rng(0)
    gammas = [_ryon_gamma(1, 1.5, rng) for _ in range(50)]
    # EFF index 2 eta of real clusters of similar CI: 2.2-8, median about 2.7
    assert 2.2 <= min(gammas) and max(gammas) <= 8.0
    assert 2.2 < np.median(gammas) < 4.5


def test_crowding_neighbours():
    table = simulation.load_crowding()
    assert set(table['class']) == {1, 2, 3, 4}
    rng = np.random.default_rng(2)
    n1 = [len(neighbours(1, rng)[0]) for _ in range(400)]
    n3 = [len(neighbours(3, rng)[0]) for _ in range(400)]
    # associations are more crowded than symmetric clusters (catalog positions)
    assert np.mean(n3) > np.mean(n1)
    sep, dmag = neighbours(4, np.random.default_rng(5))
    assert np.all(sep <= 16) and np.all(np.isfinite(dmag))


def test_psf_transform_caches_are_bounded(monkeypatch):
    from starcnet.simulation import psf

    monkeypatch.setattr(psf, 'TRANSFORM_CACHE_BYTES', 4 * 1024 ** 2)
    for cache in (psf._tinytim_ft, psf._reference_psf):
        cache.cache_clear()
    small = psf.reference_psf((64, 64))
    assert psf.reference_psf([64, 64]) is small   # cached
    assert psf._reference_psf.cache_nbytes() == small.nbytes
    # 5 x 512 x 257 complex64 = 5.3 MB: above the bound, computed, not kept
    large = psf.reference_psf((512, 512))
    assert large.shape == (5, 512, 257)
    assert psf.reference_psf((512, 512)) is not large
    np.testing.assert_array_equal(psf.reference_psf((512, 512)), large)
    assert psf._reference_psf.cache_nbytes() == small.nbytes
    assert psf._tinytim_ft.cache_nbytes() <= psf.TRANSFORM_CACHE_BYTES
    # least recently used first out
    for n in range(200, 400, 40):   # 0.8-1.9 MB each
        psf.reference_psf((n, n))
    assert psf._reference_psf.cache_nbytes() <= psf.TRANSFORM_CACHE_BYTES
    assert psf.reference_psf((64, 64)) is not small
    for cache in (psf._tinytim_ft, psf._reference_psf):
        cache.cache_clear()
