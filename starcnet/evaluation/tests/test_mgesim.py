# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Fast tests of the ``mgesim`` evaluation generator."""
import numpy as np
import pytest

from starcnet.evaluation.mgesim import simulate_candidates, simulate_with_truth
from starcnet.evaluation.mgesim.core import aperture_weights, concentration_index
from starcnet.evaluation.mgesim.profiles import wilson_mge
from starcnet.evaluation.mgesim.psf import draw_psfs
from starcnet.evaluation.mgesim.recipes import wilson_profile
from starcnet.evaluation.mgesim.render import render_gaussians


@pytest.fixture(scope='module')
def sample():
    return simulate_with_truth(6, seed=11)


def test_shape_dtype_balance(sample):
    cut, lab, truth = sample
    assert cut.shape == (24, 5, 32, 32)
    assert cut.dtype == np.float32
    assert np.all(np.isfinite(cut))
    assert lab.dtype.kind == 'i'
    assert np.array_equal(np.bincount(lab, minlength=5)[1:], [6, 6, 6, 6])
    # shuffled, not sorted by class
    assert not np.all(np.diff(lab) >= 0)
    assert len(truth['recipe']) == 24


def test_reproducible_and_seed_dependent():
    a, la = simulate_candidates(2, seed=5)
    b, lb = simulate_candidates(2, seed=5)
    c, lc = simulate_candidates(2, seed=6)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)
    g1 = simulate_candidates(2, seed=np.random.default_rng(5))[0]
    assert np.array_equal(g1, a)


def test_global_random_state_untouched():
    np.random.seed(123)
    before = np.random.get_state()
    simulate_candidates(1, seed=1)
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2] == after[2]
    assert np.random.random() == np.random.RandomState(123).random()


def test_source_at_catalog_position(sample):
    cut, lab, truth = sample
    assert np.all((truth['x'] >= 15) & (truth['x'] < 16))
    assert np.all((truth['y'] >= 15) & (truth['y'] < 16))
    off = np.hypot(truth['src_x'] - truth['x'], truth['src_y'] - truth['y'])
    assert np.all(off <= 0.8 + 1e-9)
    # the F555W light is concentrated near the centre of the stamp
    v = cut[:, 3]
    centre = v[:, 13:19, 13:19].sum(axis=(1, 2))
    edge = v[:, :6, :6].sum(axis=(1, 2))
    assert np.median(centre) > 5 * np.median(np.abs(edge))


def test_render_conserves_flux_and_is_exact():
    img = render_gaussians((64, 64), [10.0, 5.0], [31.3, 30.0], [32.7, 33.0],
                           [1.2, 4.0], [0.8, 2.0], [0.0, 1.0])
    assert img.sum() == pytest.approx(15.0, rel=1e-3)
    # a pixel-integrated narrow Gaussian centred on a pixel: known fraction
    from scipy.special import erf
    one = render_gaussians((9, 9), [1.0], [4.0], [4.0], [0.25], [0.25])
    assert one[4, 4] == pytest.approx(erf(0.5 / np.sqrt(2 * 0.25)) ** 2, rel=1e-9)


def test_wilson_mge_half_light():
    w, s = wilson_mge(5.0)
    assert w.sum() == pytest.approx(1.0)
    enc = np.sum(w * (1 - np.exp(-0.5 / s ** 2)))
    assert enc == pytest.approx(0.5, abs=0.01)


def _noiseless_ci(rng, prof):
    psf = draw_psfs(rng)[3]
    x, y = rng.uniform(15, 16, 2)
    fl = (prof[:, 0][:, None] * psf[:, 0][None]).ravel()
    cxx = (prof[:, 1][:, None] + psf[:, 1][None]).ravel()
    cyy = (prof[:, 2][:, None] + psf[:, 2][None]).ravel()
    return concentration_index(render_gaussians((32, 32), fl, x, y, cxx, cyy), x, y)


def test_star_ci_in_legus_range():
    rng = np.random.default_rng(0)
    point = np.array([[1.0, 0.0, 0.0, 0.0]])
    ci = np.array([_noiseless_ci(rng, point) for _ in range(40)])
    assert 1.08 < np.median(ci) < 1.35
    assert np.all((ci > 0.85) & (ci < 1.5))


def test_cluster_more_extended_than_star():
    rng = np.random.default_rng(1)
    point = np.array([[1.0, 0.0, 0.0, 0.0]])
    stars = [_noiseless_ci(rng, point) for _ in range(20)]
    clusters = [_noiseless_ci(rng, wilson_profile(1.5, w0=5.0)) for _ in range(20)]
    assert np.mean(clusters) > np.mean(stars) + 0.2


def test_class1_more_extended_than_class4_stars():
    # noisy candidates before the CI selection, so that class 4 stars remain
    from starcnet.evaluation.mgesim.core import _one
    rng = np.random.default_rng(3)
    c1, stars = [], []
    while len(stars) < 8 or len(c1) < 12:
        stamp, truth = _one(rng, 1 if len(c1) < 12 else 4)
        ci = concentration_index(stamp[3], truth['x'], truth['y'])
        if truth['recipe'] == 'wilson_round':
            c1.append(ci)
        elif truth['recipe'] == 'star':
            stars.append(ci)
    assert np.nanmean(c1) > np.nanmean(stars) + 0.05


def test_selection_cut_applied(sample):
    cut, lab, truth = sample
    assert np.mean(truth['ci'] >= truth['ci_cut'] - 0.1) > 0.9


def test_aperture_weights_area():
    w = aperture_weights(15.3, 15.6, 3.0, (32, 32))
    assert w.sum() == pytest.approx(np.pi * 9, rel=0.01)
