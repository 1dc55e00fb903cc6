# Licensed under a 3-clause BSD style license - see LICENSE.rst

import numpy as np
import pytest

from starcnet.cutouts import (CutoutFlag, cutout_origin, extract_cutouts,
                              normalize)


@pytest.fixture
def bands():
    rng = np.random.default_rng(1)
    return [rng.normal(1.0 + b, 0.1, (80, 90)).astype(np.float32) for b in range(5)]


def test_origin_matches_published_convention():
    # The published pipeline cut data[int(Y)-16:int(Y)+16] at 1-based
    # catalog positions Y; ours takes 0-based y = Y - 1.
    catalog_y = np.array([17.0, 17.2, 17.999, 40.5, 1234.87])
    ix, iy = cutout_origin(catalog_y - 1, catalog_y - 1)
    np.testing.assert_array_equal(iy, catalog_y.astype(int) - 16)
    np.testing.assert_array_equal(ix, iy)


def test_source_is_centred():
    # A source anywhere inside pixel 40 sits within half a pixel of the
    # cutout centre (15.5).
    for y in (39.5, 40.0, 40.49):
        _, iy = cutout_origin(0.0, y)
        assert abs((y - iy) - 15.5) <= 0.5 + 1e-9


def test_vectorised_equals_loop(bands):
    rng = np.random.default_rng(2)
    x = rng.uniform(16, 73, 50)
    y = rng.uniform(16, 63, 50)
    cutouts, flags = extract_cutouts(bands, x, y)
    assert cutouts.shape == (50, 5, 32, 32)
    assert cutouts.dtype == np.float32
    assert not flags.any()
    for i in range(50):
        x0, y0 = int(np.floor(x[i])) - 15, int(np.floor(y[i])) - 15
        for b in range(5):
            np.testing.assert_array_equal(cutouts[i, b],
                                          bands[b][y0:y0 + 32, x0:x0 + 32])


def test_big_endian_and_integer_input(bands):
    big = [b.astype('>f4') for b in bands]
    ints = [np.round(b * 100).astype('>i2') for b in bands]
    c1, _ = extract_cutouts(big, [40.0], [40.0])
    c2, _ = extract_cutouts(ints, [40.0], [40.0])
    assert c1.dtype == np.float32 and c1.dtype.isnative
    np.testing.assert_array_equal(c1[0, 0], bands[0][25:57, 25:57])
    np.testing.assert_array_equal(c2[0, 1], ints[1][25:57, 25:57].astype(np.float32))


def test_edge_padding_with_median(bands):
    cutouts, flags = extract_cutouts(bands, [8.0], [40.0])
    assert flags[0] == CutoutFlag.EDGE
    # columns -7..-1 lie outside: filled with the median of the rest
    inside = bands[2][25:57, 0:25]
    np.testing.assert_allclose(cutouts[0, 2, :, :7], np.median(inside))
    np.testing.assert_array_equal(cutouts[0, 2, :, 7:], inside)
    assert np.isfinite(cutouts).all()


def test_too_close_to_edge_is_unclassified(bands):
    _, flags = extract_cutouts(bands, [3.0, 40.0], [40.0, 78.5])
    assert flags[0] & CutoutFlag.UNCLASSIFIED and flags[0] & CutoutFlag.EDGE
    assert flags[1] & CutoutFlag.UNCLASSIFIED


def test_outside(bands):
    _, flags = extract_cutouts(bands, [-1.0, 40.0], [40.0, 80.0])
    for f in flags:
        assert f & CutoutFlag.OUTSIDE and f & CutoutFlag.UNCLASSIFIED


def test_nan_pixels(bands):
    bands[1][30, 30] = np.nan      # off-centre for a source at (45, 45)
    bands[3][45, 45] = np.inf      # the centre of a source at (45.3, 45.6)
    cutouts, flags = extract_cutouts(bands, [45.0, 45.3, 70.0], [35.0, 45.6, 62.0])
    assert flags[0] == CutoutFlag.NONFINITE
    assert np.isfinite(cutouts[0]).all()
    assert flags[1] & CutoutFlag.NONFINITE and flags[1] & CutoutFlag.UNCLASSIFIED
    assert flags[2] == 0


def test_masked_pixels(bands):
    masks = [None] * 5
    masks[4] = np.zeros(bands[0].shape, bool)
    masks[4][20:24, 20:24] = True
    cutouts, flags = extract_cutouts(bands, [30.0, 60.0], [30.0, 60.0], masks=masks)
    assert flags[0] == CutoutFlag.MASKED
    assert flags[1] == 0
    # the masked pixels were replaced, the others kept
    cut = cutouts[0, 4]
    assert np.all(cut[5:9, 5:9] == np.median(np.delete(
        bands[4][15:47, 15:47].ravel(),
        np.ravel_multi_index(np.nonzero(masks[4][15:47, 15:47]), (32, 32)))))


def test_max_bad_fraction(bands):
    masks = [np.zeros(bands[0].shape, bool) for _ in range(5)]
    masks[0][:, :51] = True   # 11 of the 32 columns, outside the core
    _, flags = extract_cutouts(bands, [55.0], [40.0], masks=masks,
                               max_bad_fraction=0.5)
    assert flags[0] == CutoutFlag.MASKED
    _, flags = extract_cutouts(bands, [55.0], [40.0], masks=masks,
                               max_bad_fraction=0.2)
    assert flags[0] & CutoutFlag.UNCLASSIFIED


def test_empty(bands):
    cutouts, flags = extract_cutouts(bands, [], [])
    assert cutouts.shape == (0, 5, 32, 32) and flags.shape == (0,)


NORM = {'kind': 'affine', 'offset': [0.0, 0.1, 0.2, 0.3, 0.4],
        'scale': [1.0, 2.0, 4.0, 0.5, 0.25]}


def test_normalize_affine():
    x = np.arange(2 * 5 * 3 * 3, dtype=np.float64).reshape(2, 5, 3, 3)
    before = x.copy()
    out = normalize(x, NORM)
    assert out.dtype == np.float32
    assert out.shape == x.shape
    assert np.array_equal(x, before)        # input untouched
    for b in range(5):
        expected = (x[:, b] - NORM['offset'][b]) / NORM['scale'][b]
        np.testing.assert_allclose(out[:, b], expected, rtol=1e-6)
    # hand-computed values
    assert out[0, 1, 0, 0] == pytest.approx((9 - 0.1) / 2.0)
    assert out[1, 4, 2, 2] == pytest.approx((89 - 0.4) / 0.25)


def test_normalize_asinh():
    x = np.full((1, 5, 4, 4), 1.5, dtype=np.float32)
    norm = dict(NORM, kind='asinh')
    out = normalize(x, norm)[0]
    assert out.shape == (5, 4, 4)
    assert out.dtype == np.float32
    assert out[3, 0, 0] == pytest.approx(np.arcsinh((1.5 - 0.3) / 0.5))
    assert out[0, 1, 2] == pytest.approx(np.arcsinh(1.5))
    assert np.all(x == 1.5)


def test_normalize_does_not_alias_float32_input():
    x = np.ones((1, 5, 2, 2), dtype=np.float32)
    out = normalize(x, {'kind': 'affine', 'offset': [0] * 5, 'scale': [1] * 5})
    assert not np.shares_memory(x, out)
    out += 1
    assert np.all(x == 1)


@pytest.mark.parametrize('norm, match', [
    ({'kind': 'log', 'offset': [0] * 5, 'scale': [1] * 5}, 'kind'),
    ({'kind': 'affine', 'offset': [0] * 4, 'scale': [1] * 5}, 'band offsets'),
    ({'kind': 'affine', 'offset': [0] * 5, 'scale': [1, 1, 0, 1, 1]}, 'positive'),
    ({'kind': 'affine'}, 'keys'),
])
def test_normalize_errors(norm, match):
    with pytest.raises(ValueError, match=match):
        normalize(np.zeros((1, 5, 2, 2)), norm)
