# Licensed under a 3-clause BSD style license - see LICENSE.rst

import mmap

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, NDData
from astropy.wcs import WCS

from starcnet.exceptions import BandSubstitutionWarning
from starcnet.images import STARCNET_BANDS, MultiBandImage


def make_wcs(crval=(150.0, 2.0), crpix=(50.0, 40.0), scale=0.0396 / 3600):
    w = WCS(naxis=2)
    w.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    w.wcs.crval = crval
    w.wcs.crpix = crpix
    w.wcs.cdelt = [-scale, scale]
    return w


def arrays(shape=(40, 50), n=5):
    rng = np.random.default_rng(0)
    return [rng.normal(size=shape).astype(np.float32) for _ in range(n)]


def test_from_dict_list_and_cube():
    data = arrays()
    by_name = MultiBandImage(dict(zip(STARCNET_BANDS, data)))
    by_list = MultiBandImage(data)
    by_cube = MultiBandImage(np.stack(data))
    for img in (by_name, by_list, by_cube):
        assert img.bands == STARCNET_BANDS
        assert img.shape == (40, 50)
        np.testing.assert_array_equal(img['f438w'].data, data[2])
        assert isinstance(img['F555W'], NDData)


def test_wrong_number_of_unnamed_bands():
    with pytest.raises(ValueError, match='got 4 unnamed bands'):
        MultiBandImage(arrays(n=4))


def test_different_shapes():
    data = dict(zip(STARCNET_BANDS, arrays()))
    data['F814W'] = np.zeros((41, 50))
    with pytest.raises(ValueError, match=r'different shapes.*F814W \(41, 50\).*reproject'):
        MultiBandImage(data)


def test_not_2d():
    with pytest.raises(ValueError, match='band F275W: expected a 2-D image'):
        MultiBandImage({'F275W': np.zeros(10)})


def test_different_wcs():
    data = arrays()
    bands = {b: NDData(d, wcs=make_wcs()) for b, d in zip(STARCNET_BANDS, data)}
    bands['F336W'] = NDData(data[1], wcs=make_wcs(crpix=(50.5, 40.0)))
    with pytest.raises(ValueError, match='band F336W is not on the pixel grid'):
        MultiBandImage(bands)
    # identical grids (distinct objects) are accepted, and the WCS kept
    bands['F336W'] = NDData(data[1], wcs=make_wcs())
    img = MultiBandImage(bands)
    assert img.wcs is not None and img['F336W'].wcs is not None


def test_units():
    data = arrays()
    ok = {b: CCDData(d, unit=u.electron / u.s) for b, d in zip(STARCNET_BANDS, data)}
    MultiBandImage(ok)
    ok['F275W'] = CCDData(data[0], unit=u.adu)
    with pytest.raises(ValueError, match='pixels are in adu.*electrons per second'):
        MultiBandImage(ok)


def test_missing_band_and_substitutes():
    data = dict(zip(['F275W', 'F336W', 'F435W', 'F606W', 'F814W'], arrays()))
    img = MultiBandImage(data)
    with pytest.warns(BandSubstitutionWarning,
                      match='using band F435W for the model band F438W, '
                            'F606W for the model band F555W'):
        mapping = img.match_bands()
    assert list(mapping.values()) == ['F275W', 'F336W', 'F435W', 'F606W', 'F814W']
    del data['F275W']
    with pytest.raises(ValueError, match='lacks band.*F275W'):
        MultiBandImage(data).match_bands()
    with pytest.raises(KeyError, match="no band 'F275W'"):
        MultiBandImage(data)['F275W']


def write_bands(tmp_path, data, header=None):
    paths = {}
    for band, d in zip(STARCNET_BANDS, data):
        paths[band] = tmp_path / f'{band}.fits'
        fits.PrimaryHDU(d, header=header).writeto(paths[band])
    return paths


def test_read_fits_memmap(tmp_path):
    data = arrays()
    header = make_wcs().to_header()
    header['BUNIT'] = 'ELECTRONS/S'
    img = MultiBandImage.read(write_bands(tmp_path, data, header))
    assert img.bands == STARCNET_BANDS
    assert img.wcs is not None
    np.testing.assert_array_equal(img['F555W'].data, data[3])
    base = img['F555W'].data
    while getattr(base, 'base', None) is not None:
        base = base.base
    assert isinstance(base, mmap.mmap)


def test_read_extension_choice(tmp_path):
    d = arrays()[0]
    path = tmp_path / 'two_sci.fits'
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(d, name='SCI'),
                  fits.ImageHDU(d, name='SCI')]).writeto(path)
    with pytest.raises(ValueError, match=r'several 2-D image HDUs: 1 \(SCI,1\), '
                                         r'2 \(SCI,1\).*hdu='):
        MultiBandImage.read({'F555W': path})
    img = MultiBandImage.read({'F555W': path}, hdu=2)
    np.testing.assert_array_equal(img['F555W'].data, d)
    with pytest.raises(ValueError, match="has no HDU 7"):
        MultiBandImage.read({'F555W': path}, hdu=7)


def test_read_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='band F555W: FITS file .* does not exist'):
        MultiBandImage.read({'F555W': tmp_path / 'nope.fits'})
    junk = tmp_path / 'junk.fits'
    junk.write_text('this is not FITS')
    with pytest.raises(OSError, match='band F555W: cannot read .* as FITS'):
        MultiBandImage.read({'F555W': junk})
    with pytest.raises(TypeError, match='paths must be a dict .* or a list'):
        MultiBandImage.read('a.fits')


def test_read_wrong_unit(tmp_path):
    header = fits.Header({'BUNIT': 'Jy'})
    with pytest.raises(ValueError, match='pixels are in Jy'):
        MultiBandImage.read(write_bands(tmp_path, arrays(), header))
