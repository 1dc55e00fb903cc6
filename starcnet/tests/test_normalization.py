# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of `starcnet.normalization.Normalization`."""

import numpy as np
import pytest
import torch

from starcnet.cutouts import normalize
from starcnet.normalization import MAD_TO_SIGMA, Normalization

AFFINE = {'kind': 'affine', 'offset': [0.0, 0.1, 0.2, 0.3, 0.4],
          'scale': [1.0, 2.0, 4.0, 0.5, 0.25]}
ASINH = dict(AFFINE, kind='asinh')
LOCAL = {'kind': 'local', 'stretch': 1.0, 'radius': 12.0}
LOCAL_BANDS = {'kind': 'local', 'stretch': [1.0, 2.0, 0.5, 1.0, 3.0], 'radius': 10.0}


def _cutouts(n=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.5, 0.2, (n, 5, 32, 32)).astype(np.float32)
    yy, xx = np.mgrid[:32, :32]
    x += (3 * np.exp(-((xx - 15.5) ** 2 + (yy - 15.5) ** 2) / 6)).astype(np.float32)
    return x


@pytest.mark.parametrize('meta', [AFFINE, ASINH, LOCAL, LOCAL_BANDS])
def test_metadata_round_trip(meta):
    norm = Normalization.from_metadata(meta)
    assert norm.to_metadata() == meta
    assert Normalization.from_metadata(norm) is norm
    assert Normalization.from_metadata(norm.to_metadata()) == norm


def test_local_defaults():
    norm = Normalization('local')
    assert norm.stretch == (1.0,) and norm.radius == 12.0 and norm.n_bands is None
    mask = norm.background_pixels()
    assert mask.sum() == 576 and mask[0, 0] and not mask[15, 15] and not mask[15, 4]
    assert mask[15, 3] == (3.5 ** 2 + 12.5 ** 2 > 144)


def test_registry_normalisations_load_unchanged():
    from starcnet.models.registry import get_model_info, load_model

    legus = get_model_info('legus-2021').normalization
    assert legus.to_metadata() == {
        'kind': 'affine',
        'offset': [0.02376737, 0.13796899, 0.14457473, 0.2542926, 0.39018805],
        'scale': [1.0] * 5}
    _, info = load_model('sim-small-v1')
    assert info.normalization.kind == 'asinh'
    assert info.temperature == 1.0


@pytest.mark.parametrize('meta, match', [
    ({'kind': 'log', 'offset': [0] * 5, 'scale': [1] * 5}, 'kind'),
    ({'kind': 'affine', 'offset': [0] * 4, 'scale': [1] * 5}, 'band offsets'),
    ({'kind': 'affine', 'offset': [0] * 5, 'scale': [1, 1, -1, 1, 1]}, 'positive'),
    ({'kind': 'affine', 'offset': [0] * 5, 'scale': [1, 1, 0, 1, 1]}, 'positive'),
    ({'kind': 'affine', 'offset': [np.nan] * 5, 'scale': [1] * 5}, 'finite'),
    ({'kind': 'affine'}, 'offset'),
    ({'offset': [0] * 5}, 'keys'),
    ({'kind': 'asinh', 'offset': [0] * 5, 'scale': [1] * 5, 'stretch': 1}, 'stretch'),
    ({'kind': 'local', 'stretch': -1.0}, 'positive'),
    ({'kind': 'local', 'offset': [0] * 5}, 'offset'),
    ({'kind': 'local', 'radius': 20}, 'radius'),
    ({'kind': 'local', 'gain': 2}, 'unknown keys'),
])
def test_one_validator(meta, match):
    with pytest.raises(ValueError, match=match):
        Normalization.from_metadata(meta)


def test_band_count_checked_at_apply():
    with pytest.raises(ValueError, match='band offsets'):
        Normalization.from_metadata(AFFINE).apply(np.zeros((1, 4, 2, 2)))
    with pytest.raises(ValueError, match='stretches'):
        Normalization.from_metadata(LOCAL_BANDS).apply(np.zeros((1, 4, 32, 32)))
    with pytest.raises(ValueError, match='missing must have shape'):
        Normalization.from_metadata(AFFINE).apply(np.zeros((2, 5, 2, 2)),
                                                  missing=np.zeros((2, 4), bool))


@pytest.mark.parametrize('meta', [AFFINE, ASINH, LOCAL, LOCAL_BANDS])
def test_numpy_and_torch_agree(meta):
    norm = Normalization.from_metadata(meta)
    x = _cutouts()
    x[3, 2] = 0.0                     # a constant band
    missing = np.zeros((len(x), 5), bool)
    missing[[1, 3], [0, 2]] = True
    a = norm.apply(x, missing=missing)
    b = norm.apply(torch.from_numpy(x), missing=torch.from_numpy(missing))
    assert isinstance(b, torch.Tensor) and b.dtype == torch.float32
    assert a.dtype == np.float32 and a.shape == x.shape
    np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)
    assert np.all(a[1, 0] == 0) and np.all(a[3, 2] == 0)
    # the shorthand of cutouts is the same call
    np.testing.assert_array_equal(normalize(x, meta, missing), a)


def test_missing_is_band_mean_for_affine():
    norm = Normalization.from_metadata(AFFINE)
    x = np.full((1, 5, 4, 4), 0.1, np.float32)      # band 1 at its offset
    missing = np.array([[False, False, True, False, False]])
    out = norm.apply(x, missing=missing)
    assert np.all(out[0, 1] == 0) and np.all(out[0, 2] == 0)
    assert np.all(out[0, 0] == pytest.approx(0.1))


def test_local_by_hand():
    norm = Normalization('local', stretch=2.0)
    x = _cutouts(2)
    out = norm.apply(x)
    outer = x[1, 3][norm.background_pixels()]
    bg = np.median(outer)
    noise = MAD_TO_SIGMA * np.median(np.abs(outer - bg))
    np.testing.assert_allclose(out[1, 3], np.arcsinh((x[1, 3] - bg) / (2 * noise)),
                               rtol=1e-5, atol=1e-5)


def test_local_is_level_free():
    norm = Normalization.from_metadata(LOCAL_BANDS)
    x = _cutouts()
    # another sky level, exposure time or zero point: the same input
    other = 3.7 * x + 12.0
    np.testing.assert_allclose(norm.apply(other), norm.apply(x), atol=2e-4)
    np.testing.assert_allclose(norm.apply(torch.from_numpy(other)).numpy(),
                               norm.apply(x), atol=2e-4)


@pytest.mark.parametrize('as_tensor', [False, True])
def test_local_never_gives_nan(as_tensor):
    norm = Normalization('local')
    x = _cutouts(4)
    x[0, 0] = 0.0                               # constant band: noise 0
    x[1, 1] = 5.0
    x[1, 1, 15, 15] = 9.0                       # constant border, a source
    x[2, 2, :, :16] = 0.0                       # half a band zero: MAD 0
    x[3, 3] = np.nan                            # no data at all
    x[3, 4, 0, 0] = np.inf
    out = norm.apply(torch.from_numpy(x) if as_tensor else x)
    out = out.numpy() if as_tensor else out
    assert np.all(np.isfinite(out))
    assert np.all(out[0, 0] == 0)
    assert out[1, 1, 15, 15] > 0 and out[1, 1, 0, 0] == 0
    assert np.all(np.isfinite(out[2, 2])) and out[2, 2, 15, 20] > 0


def test_input_untouched():
    x = _cutouts(2)
    before = x.copy()
    for meta in (AFFINE, ASINH, LOCAL):
        out = Normalization.from_metadata(meta).apply(x, missing=np.ones((2, 5), bool))
        assert not np.shares_memory(out, x)
    np.testing.assert_array_equal(x, before)
