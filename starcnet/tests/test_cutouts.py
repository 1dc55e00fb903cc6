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


def _eps_and_electron_images(seed=0, exptime=37.5):
    import astropy.units as u
    from astropy.nddata import NDData

    from starcnet import MultiBandImage

    rng = np.random.default_rng(seed)
    eps = {b: rng.normal(1, 0.2, (70, 90)).astype(np.float32) for b in ('F555W', 'F814W')}
    eps['F555W'][30:40, 50:60] = np.nan
    electrons = MultiBandImage({
        'F555W': NDData(eps['F555W'] * exptime, unit=u.electron,
                        meta={'EXPTIME': exptime}),
        'F814W': NDData(eps['F814W'], unit=u.electron / u.s)})
    return MultiBandImage(eps), electrons


def test_image_cutouts_in_electrons_per_second():
    from starcnet.cutouts import image_cutouts

    per_second, electrons = _eps_and_electron_images()
    x, y = np.array([45.2, 3.0, 54.0, 120.0]), np.array([35.7, 60.0, 20.0, 10.0])
    a, fa, ma = image_cutouts(per_second, x, y)
    b, fb, mb = image_cutouts(electrons, x, y)
    # the factor 1 / EXPTIME is applied once: same cutouts as the e-/s image
    np.testing.assert_allclose(b, a, rtol=1e-6)
    np.testing.assert_array_equal(fa, fb)
    np.testing.assert_array_equal(ma, mb)
    assert fb[3] & CutoutFlag.OUTSIDE and fb[1] & CutoutFlag.EDGE
    # what extract_cutouts gives on the stored pixels, scaled once
    arrays, masks, scales = electrons.band_arrays()
    raw, flags = extract_cutouts(arrays, x, y, masks=masks)
    assert scales[0] == pytest.approx(1 / 37.5)
    np.testing.assert_array_equal(b, raw * scales[None, :, None, None])
    # the image itself is not changed
    np.testing.assert_array_equal(electrons['F555W'].data, arrays[0])
    # bands picked and ordered; a chunk of positions at a time is the same
    c, _, _ = image_cutouts(electrons, x[1:3], y[1:3], bands=['F814W', 'F555W'])
    np.testing.assert_array_equal(c, b[1:3, ::-1])


def test_image_cutouts_masks_and_dict_input():
    from starcnet import MultiBandImage
    from starcnet.cutouts import image_cutouts

    data = np.ones((64, 64), np.float32)
    mask = np.zeros((64, 64), bool)
    mask[31, 31] = True
    image = MultiBandImage({'F555W': data}, mask=mask)
    _, flags, _ = image_cutouts(image, [31.0], [31.0])
    assert flags[0] & CutoutFlag.MASKED and flags[0] & CutoutFlag.UNCLASSIFIED
    _, flags, _ = image_cutouts(image, [31.0], [31.0], use_masks=False)
    assert flags[0] == 0
    cutouts, flags, missing = image_cutouts({'F555W': data}, [31.0], [31.0], size=8)
    assert cutouts.shape == (1, 1, 8, 8) and flags[0] == 0 and not missing.any()


class TestTablePositions:
    """One parser, one strictness, for every table of positions."""

    def test_accepted(self):
        import astropy.units as u
        from astropy.table import MaskedColumn, QTable, Table

        from starcnet.cutouts import table_positions

        for table in (Table({'x': [1.5, 2.0], 'y': [3, 4]}),
                      QTable({'x_centroid': [1.5, 2.0] * u.pix, 'y_centroid': [3, 4] * u.pix}),
                      Table({'xcentroid': MaskedColumn([1.5, 2.0]), 'ycentroid': [3., 4.]}),
                      Table({'x': [1.5, 2.0], 'y': [3., 4.]}, units={'x': 'pixel'})):
            x, y = table_positions(table)
            assert x.dtype == np.float64 and y.dtype == np.float64
            np.testing.assert_array_equal(x, [1.5, 2.0])
            np.testing.assert_array_equal(y, [3.0, 4.0])

    @pytest.mark.parametrize('what, match', [
        ('masked', r"'y' of the catalog has 2 masked value\(s\) \(rows 1, 2\)"),
        ('masked quantity', r"'x' of the catalog has 1 masked value\(s\) \(rows 0\)"),
        ('degrees', r"'x' of the catalog must be in pixels .*got unit deg"),
        ('nan', r'2 source position\(s\) are not finite \(rows 0, 2\) in the catalog'),
        ('inf', r'1 source position\(s\) are not finite \(rows 1\)'),
        ('none', r'no pixel positions'),
    ])
    def test_refused(self, what, match):
        import astropy.units as u
        from astropy.table import MaskedColumn, QTable, Table
        from astropy.utils.masked import Masked

        from starcnet.cutouts import table_positions

        x, y = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
        table = {
            'masked': Table({'x': x, 'y': MaskedColumn(y, mask=[0, 1, 1])}),
            'masked quantity': QTable({'x': Masked(x * u.pix, mask=[1, 0, 0]), 'y': y}),
            'degrees': QTable({'x': x * u.deg, 'y': y}),
            'nan': Table({'x': [np.nan, 2, 3], 'y': [4, 5, np.nan]}),
            'inf': Table({'x': x, 'y': [4, np.inf, 6]}),
            'none': Table({'ra': x, 'dec': y}),
        }[what]
        with pytest.raises(ValueError, match=match):
            table_positions(table, 'catalog')

    def test_every_user_is_as_strict(self):
        """The classifier, metrics, regions and training refuse the same table."""
        from astropy.table import MaskedColumn, Table

        from starcnet.classifier import _positions
        from starcnet.metrics import _xy
        from starcnet.io.ds9 import catalog_to_regions
        from starcnet.training import cutouts_from_catalog

        table = Table({'x': MaskedColumn([1.0, 2.0], mask=[0, 1]), 'y': [3.0, 4.0],
                       'cluster_class': [1, 2], 'human_class': [1, 2],
                       **{f'prob_class{k}': [0.25, 0.25] for k in range(1, 5)}})
        match = r"'x' .*has 1 masked value\(s\) \(rows 1\)"
        with pytest.raises(ValueError, match=match):
            _positions(table, None)
        with pytest.raises(ValueError, match=match):
            _xy(table, 'reference')
        with pytest.raises(ValueError, match=match):
            catalog_to_regions(table)
        with pytest.raises(ValueError, match=match):
            cutouts_from_catalog({'F555W': np.ones((64, 64))}, table, bands=['F555W'])
