# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Reading HST files as MAST serves them: extension choice, band identity
from the header, pixel units, compressed / big-endian / scaled data and
resampling onto one grid.
"""

import mmap
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, NDData

from starcnet.cutouts import extract_cutouts
from starcnet.exceptions import BandSubstitutionWarning
from starcnet.images import STARCNET_BANDS, MultiBandImage
from starcnet.tests.test_images import make_wcs

# Real WFC3 headers with 10x10 pixel arrays (see data/hst/README.rst).
HST_DATA = Path(__file__).parent / 'data' / 'hst'
FLC = HST_DATA / 'sample_svm_flc.fits'
FLT = HST_DATA / 'sample_svm_flt.fits'

SHAPE = (40, 50)


def ramp(k=0, shape=SHAPE):
    """
    A distinct smooth image per k (linear, so bilinear resampling is exact).
    """
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (1.0 + k + 0.01 * xx + 0.02 * yy).astype(np.float32)


def primary_file(path, data, **keywords):
    header = make_wcs().to_header()
    header.update(keywords)
    fits.PrimaryHDU(data, header=header).writeto(path)
    return path


def drc_file(path, data, primary=None, sci=None):
    """
    A drizzled-product layout: empty primary, SCI, WHT and CTX.
    """
    header = make_wcs().to_header()
    header.update(sci or {'BUNIT': 'ELECTRONS/S'})
    hdus = [fits.PrimaryHDU(header=fits.Header(primary or {})),
            fits.ImageHDU(data, header=header, name='SCI'),
            fits.ImageHDU(np.ones_like(data), header=header, name='WHT'),
            fits.ImageHDU(np.ones(data.shape, dtype=np.int32), name='CTX')]
    fits.HDUList(hdus).writeto(path)
    return path


def legus_files(tmp_path, filters=STARCNET_BANDS):
    return [primary_file(tmp_path / f'{band.lower()}_drc.fits', ramp(k),
                         FILTER=band, BUNIT='ELECTRONS/S')
            for k, band in enumerate(filters)]


# Layouts read correctly

def test_list_of_primary_mosaics(tmp_path):
    paths = legus_files(tmp_path)
    img = MultiBandImage.read(paths[::-1])
    # the bands are named from FILTER and kept in the order given
    assert img.bands == STARCNET_BANDS[::-1]
    for k, band in enumerate(STARCNET_BANDS):
        np.testing.assert_array_equal(img[band].data, ramp(k))
        assert img[band].meta['hdu'] == 0
        assert img[band].meta['scale'] == 1
        assert 'FILTER' in img[band].meta['band_note']
    assert list(img.match_bands().values()) == list(STARCNET_BANDS)
    base = img['F555W'].data
    while getattr(base, 'base', None) is not None:
        base = base.base
    assert isinstance(base, mmap.mmap)


def test_drc_sci_extension(tmp_path):
    path = drc_file(tmp_path / 'f814w_drc.fits', ramp(4),
                    primary={'INSTRUME': 'WFC3', 'FILTER': 'F814W'})
    img = MultiBandImage.read([path])
    assert img.bands == ('F814W',)
    nd = img['F814W']
    np.testing.assert_array_equal(nd.data, ramp(4))
    assert (nd.meta['hdu'], nd.meta['extname']) == (1, 'SCI')
    assert nd.unit == u.electron / u.s
    assert img.wcs is not None
    # the same with a dict
    img = MultiBandImage.read({'F814W': path})
    np.testing.assert_array_equal(img['F814W'].data, ramp(4))


def two_chip_file(path):
    """
    An flc-like layout: two SCI chips with their ERR and DQ.
    """
    hdus = [fits.PrimaryHDU(header=fits.Header({'FILTER': 'F336W'}))]
    for ver in (1, 2):
        header = fits.Header({'EXTVER': ver, 'BUNIT': 'ELECTRONS/S'})
        hdus += [fits.ImageHDU(ramp(ver), header=header, name='SCI'),
                 fits.ImageHDU(ramp(9), header=header, name='ERR'),
                 fits.ImageHDU(np.zeros(SHAPE, np.int16), header=header, name='DQ')]
    fits.HDUList(hdus).writeto(path)
    return path


@pytest.mark.parametrize('how', ['suffix', 'suffix-index', 'tuple', 'string',
                                 'index-string'])
def test_choose_second_chip(tmp_path, how):
    path = two_chip_file(tmp_path / 'x_flc.fits')
    if how == 'suffix':
        img = MultiBandImage.read([f'{path}[SCI,2]'])
    elif how == 'suffix-index':
        img = MultiBandImage.read([Path(f'{path}[4]')])
    elif how == 'tuple':
        img = MultiBandImage.read([path], hdu=('SCI', 2))
    elif how == 'string':
        img = MultiBandImage.read({'F336W': path}, hdu='sci, 2')
    else:
        img = MultiBandImage.read({'F336W': path}, hdu='4')
    np.testing.assert_array_equal(img['F336W'].data, ramp(2))
    assert (img['F336W'].meta['extname'], img['F336W'].meta['extver']) == ('SCI', 2)


def test_suffix_wins_over_hdu(tmp_path):
    path = two_chip_file(tmp_path / 'x_flc.fits')
    img = MultiBandImage.read([f'{path}[SCI,1]'], hdu=('SCI', 2))
    np.testing.assert_array_equal(img['F336W'].data, ramp(1))


def test_compressed(tmp_path):
    path = tmp_path / 'f555w_drc.fits.fz'
    header = make_wcs().to_header()
    header.update({'FILTER': 'F555W', 'BUNIT': 'ELECTRONS/S'})
    data = np.random.default_rng(1).normal(size=SHAPE).astype(np.float32)
    fits.HDUList([fits.PrimaryHDU(),
                  fits.CompImageHDU(data, header=header, name='SCI',
                                    compression_type='GZIP_2',
                                    quantize_level=0.0)]).writeto(path)
    img = MultiBandImage.read([path])
    assert img.bands == ('F555W',)
    np.testing.assert_array_equal(img['F555W'].data, data)
    assert img['F555W'].meta['compressed']
    assert img.wcs is not None


def test_big_endian_cutouts_are_native(tmp_path):
    data = ramp(3).astype('>f4')
    img = MultiBandImage.read([primary_file(tmp_path / 'a.fits', data,
                                            FILTER='F555W')])
    assert img['F555W'].data.dtype.byteorder == '>'
    arrays, masks, scales = img.band_arrays(['F555W'])
    cutouts, flags = extract_cutouts(arrays, [20.0], [20.0], masks=masks)
    assert cutouts.dtype == np.float32 and cutouts.dtype.isnative
    assert (cutouts * scales[None, :, None, None]).dtype.isnative
    np.testing.assert_array_equal(cutouts[0, 0], ramp(3)[5:37, 5:37])
    assert flags[0] == 0


def test_scaled_integers(tmp_path):
    raw = (np.arange(np.prod(SHAPE)) % 1000).reshape(SHAPE).astype(np.int16)
    hdu = fits.PrimaryHDU(raw)
    hdu.header.update({'BSCALE': 0.5, 'BZERO': 10.0, 'FILTER': 'F275W'})
    hdu.writeto(tmp_path / 'f275w.fits')
    # scaled integers cannot be memory-mapped; they are read into memory
    img = MultiBandImage.read([tmp_path / 'f275w.fits'], memmap=True)
    np.testing.assert_allclose(img['F275W'].data, raw * 0.5 + 10.0)
    assert img['F275W'].data.dtype.kind == 'f'


def test_acs_filter1_filter2(tmp_path):
    paths = [drc_file(tmp_path / 'acs_f435w.fits', ramp(0),
                      primary={'INSTRUME': 'ACS', 'FILTER1': 'CLEAR1L',
                               'FILTER2': 'F435W'}),
             drc_file(tmp_path / 'acs_f606w.fits', ramp(1),
                      primary={'INSTRUME': 'ACS', 'FILTER1': 'F606W',
                               'FILTER2': 'CLEAR2L'})]
    img = MultiBandImage.read(paths)
    assert img.bands == ('F435W', 'F606W')
    np.testing.assert_array_equal(img['F606W'].data, ramp(1))


def test_photplam_fallback(tmp_path):
    # PHOTPLAM in the SCI header (WFC3/UVIS flc style) and in the
    # primary header (WFC3/IR flt style)
    uvis = drc_file(tmp_path / 'uvis.fits', ramp(0),
                    primary={'INSTRUME': 'WFC3', 'DETECTOR': 'UVIS'},
                    sci={'PHOTPLAM': 4326.2, 'BUNIT': 'ELECTRONS/S'})
    acs = drc_file(tmp_path / 'acs.fits', ramp(1),
                   primary={'INSTRUME': 'ACS', 'DETECTOR': 'WFC',
                            'PHOTPLAM': 4329.0})
    ir = drc_file(tmp_path / 'ir.fits', ramp(2),
                  primary={'FILTER': 'BLANK', 'PHOTPLAM': 15370.0})
    img = MultiBandImage.read([uvis, acs, ir])
    assert img.bands == ('F438W', 'F435W', 'F160W')
    assert 'PHOTPLAM' in img['F438W'].meta['band_note']
    np.testing.assert_array_equal(img['F160W'].data, ramp(2))


def test_real_flc(tmp_path):
    with fits.open(FLC) as hdul:
        sci2 = hdul['SCI', 2].data.astype(np.float32)
    img = MultiBandImage.read([f'{FLC}[SCI,2]'])
    nd = img['F555W']
    assert img.bands == ('F555W',)
    assert nd.unit == u.electron
    np.testing.assert_array_equal(nd.data, sci2)
    assert nd.meta['scale'] == pytest.approx(1 / 170)
    assert 'EXPTIME = 170 s' in nd.meta['unit_note']
    # the WCS, SIP and lookup-table distortions included, is read
    assert img.wcs is not None and img.wcs.sip is not None
    assert img.wcs.cpdis1 is not None
    # the same chip by index and by hdu=
    for kwargs, path in (({}, f'{FLC}[4]'), ({'hdu': ('SCI', 2)}, FLC)):
        np.testing.assert_array_equal(
            MultiBandImage.read([path], **kwargs)['F555W'].data, sci2)


def test_real_flt():
    with fits.open(FLT) as hdul:
        sci = hdul['SCI'].data.astype(np.float32)
    img = MultiBandImage.read([FLT])
    # SCI is the only science plane (ERR, DQ, SAMP, TIME are auxiliary)
    assert img.bands == ('F110W',)
    assert img['F110W'].meta['extname'] == 'SCI'
    assert img['F110W'].unit == u.electron / u.s
    assert img['F110W'].meta['scale'] == 1
    np.testing.assert_array_equal(img['F110W'].data, sci)
    # an IR band is read, but is not one of the model's bands
    with pytest.raises(ValueError, match='lacks band.*F275W'):
        img.match_bands()


def test_electrons_with_exptime(tmp_path):
    path = drc_file(tmp_path / 'e.fits', ramp(0) * 200,
                    primary={'FILTER': 'F814W', 'EXPTIME': 200.0},
                    sci={'BUNIT': 'ELECTRONS'})
    img = MultiBandImage.read([path])
    nd = img['F814W']
    # stored as read (memory-mapped), converted per cutout
    np.testing.assert_array_equal(nd.data, ramp(0) * 200)
    assert nd.meta['scale'] == pytest.approx(1 / 200)
    assert 'divided by EXPTIME = 200 s' in nd.meta['unit_note']
    arrays, masks, scales = img.band_arrays()
    cutouts, _ = extract_cutouts(arrays, [25.0], [20.0], masks=masks)
    cutouts *= scales[None, :, None, None]
    np.testing.assert_allclose(cutouts[0, 0], ramp(0)[5:37, 10:42], rtol=1e-6)


def test_nddata_in_electrons():
    data = ramp(0) * 100
    img = MultiBandImage({'F555W': NDData(data, unit=u.electron,
                                          meta={'EXPTIME': 100}),
                          'F814W': CCDData(ramp(1), unit='electron',
                                           meta=fits.Header({'EXPTIME': 50.0}))})
    np.testing.assert_allclose(img.band_arrays()[2], [1 / 100, 1 / 50])
    # counts per second with a gain
    img = MultiBandImage({'F555W': NDData(data, unit=u.count / u.s,
                                          meta={'ATODGAIN': 2.0})})
    assert img['F555W'].meta['scale'] == 2.0
    # a second image built from the first keeps the factors
    assert MultiBandImage(img)['F555W'].meta['scale'] == 2.0


def test_missing_band_and_substitution_from_list(tmp_path):
    img = MultiBandImage.read(legus_files(
        tmp_path, ['F275W', 'F336W', 'F435W', 'F606W', 'F814W']))
    with pytest.warns(BandSubstitutionWarning, match='F435W for the model band F438W'):
        assert list(img.match_bands().values()) == list(img.bands)
    # without F435W, F438W is missing: reported by match_bands
    img = MultiBandImage.read([p for p in tmp_path.glob('*.fits')
                               if 'f435w' not in p.name])
    with pytest.raises(ValueError, match='lacks band.*F438W'):
        img.match_bands()


@pytest.mark.parametrize('filters', [
    ['F275W', 'F336W', 'F438W', 'F555W'],
    ['F814W']])
def test_match_bands_reports_missing(tmp_path, filters):
    img = MultiBandImage.read(legus_files(tmp_path, filters))
    with pytest.raises(ValueError, match='the image lacks band'):
        img.match_bands()


def test_align(tmp_path):
    pytest.importorskip('reproject')
    ref = primary_file(tmp_path / 'ref.fits', ramp(0), FILTER='F555W')
    # the second band: a different shape and a grid shifted by (3, 2) px
    header = make_wcs(crpix=(47.0, 38.0)).to_header()
    header['FILTER'] = 'F814W'
    shifted = ramp(1, shape=(45, 55))
    fits.PrimaryHDU(shifted, header=header).writeto(tmp_path / 'other.fits')
    with pytest.raises(ValueError, match='F814W.*align=True'):
        MultiBandImage.read([ref, tmp_path / 'other.fits'])
    img = MultiBandImage.read([ref, tmp_path / 'other.fits'], align=True)
    assert img.shape == SHAPE
    # the reference band is untouched (still memory-mapped data)
    assert img['F555W'].data.dtype.byteorder == '>'
    out = img['F814W'].data
    assert out.shape == SHAPE and out.dtype == np.float32
    # pixel (x, y) of the reference grid is pixel (x - 3, y - 2) of the other
    np.testing.assert_allclose(out[2:, 3:], shifted[:SHAPE[0] - 2, :SHAPE[1] - 3],
                               rtol=1e-5)
    assert np.isnan(out[0, 0])
    assert 'reproject_interp' in img['F814W'].meta['align_note']


def test_align_pixel_area_and_mask():
    pytest.importorskip('reproject')
    # the second band has pixels half as wide: each holds a quarter of
    # the flux of a reference pixel
    fine = make_wcs(crpix=(100.0, 80.0), scale=0.0396 / 3600 / 2)
    mask = np.zeros((80, 100), dtype=bool)
    mask[40, 60] = True
    img = MultiBandImage({'F555W': NDData(ramp(0), wcs=make_wcs()),
                          'F814W': NDData(np.full((80, 100), 0.25, np.float32),
                                          wcs=fine, mask=mask)}, align=True)
    out = img['F814W']
    np.testing.assert_allclose(out.data[5:35, 5:45], 1.0, rtol=1e-5)
    # the masked fine pixel touches the reference pixels around it
    assert out.mask[20, 30] and out.mask.sum() <= 4
    assert 'area ratio 4' in out.meta['align_note']


def test_align_without_reproject(monkeypatch):
    monkeypatch.setitem(sys.modules, 'reproject', None)
    bands = {'F555W': NDData(ramp(0), wcs=make_wcs()),
             'F814W': NDData(ramp(1), wcs=make_wcs(crpix=(47.0, 38.0)))}
    with pytest.raises(ImportError, match='pip install reproject'):
        MultiBandImage(bands, align=True)


def test_align_needs_wcs():
    pytest.importorskip('reproject')
    with pytest.raises(ValueError, match='celestial WCS in every band.*F814W'):
        MultiBandImage({'F555W': NDData(ramp(0), wcs=make_wcs()),
                        'F814W': ramp(1)}, align=True)


# Bad cases give their documented errors

def test_ambiguous_chips_named():
    with pytest.raises(ValueError) as info:
        MultiBandImage.read([FLC])
    msg = str(info.value)
    assert 'several 2-D image HDUs: 1 (SCI,1), 4 (SCI,2)' in msg
    assert "hdu=('SCI', 2)" in msg
    assert f"'{FLC}[SCI,2]'" in msg


def test_unknown_filter(tmp_path):
    path = primary_file(tmp_path / 'grism.fits', ramp(0), FILTER='G280')
    with pytest.raises(ValueError, match=r"cannot tell the band: FILTER = 'G280'"
                       r'.*no usable PHOTPLAM.*give the files as a dict'):
        MultiBandImage.read([path])
    path = primary_file(tmp_path / 'far.fits', ramp(0), PHOTPLAM=20000.0)
    with pytest.raises(ValueError, match='PHOTPLAM = 20000 A is within 2% of no'):
        MultiBandImage.read([path])
    # F435W and F438W have the same pivot: the instrument must say which
    path = primary_file(tmp_path / 'blue.fits', ramp(0), PHOTPLAM=4328.0)
    with pytest.raises(ValueError, match=r'PHOTPLAM = 4328 A matches F43.*and '
                                         'INSTRUME/DETECTOR do not say which') as info:
        MultiBandImage.read([path])
    assert 'F435W (ACS/WFC)' in str(info.value)
    assert 'F438W (WFC3/UVIS)' in str(info.value)
    # a dict needs no filter keyword at all
    assert MultiBandImage.read({'F438W': path}).bands == ('F438W',)


def test_duplicate_band(tmp_path):
    a = primary_file(tmp_path / 'a.fits', ramp(0), FILTER='F555W')
    b = drc_file(tmp_path / 'b.fits', ramp(1),
                 primary={'INSTRUME': 'WFC3', 'DETECTOR': 'UVIS'},
                 sci={'PHOTPLAM': 5308.0})
    with pytest.raises(ValueError, match=r"band F555W twice: in .*a.fits' and "
                                         r".*b.fits' .*PHOTPLAM"):
        MultiBandImage.read([a, b])


@pytest.mark.parametrize('bunit', ['Jy', 'erg/s/cm2/Angstrom', 'MJy/sr'])
def test_unconvertible_unit(tmp_path, bunit):
    path = primary_file(tmp_path / 'a.fits', ramp(0), FILTER='F555W',
                        BUNIT=bunit, EXPTIME=100.0)
    with pytest.raises(ValueError, match='cannot be turned into e-/s here'):
        MultiBandImage.read([path])


def test_counts_without_exposure_time(tmp_path):
    path = primary_file(tmp_path / 'a.fits', ramp(0), FILTER='F555W',
                        BUNIT='COUNTS', GAIN=1.5)
    with pytest.raises(ValueError, match=r'pixels are in ct.*no positive EXPTIME'):
        MultiBandImage.read([path])
    path = primary_file(tmp_path / 'b.fits', ramp(0), FILTER='F555W',
                        BUNIT='COUNTS', EXPTIME=100.0)
    with pytest.raises(ValueError, match=r'needs the detector gain.*GAIN or ATODGAIN'):
        MultiBandImage.read([path])
    path = primary_file(tmp_path / 'c.fits', ramp(0), FILTER='F555W',
                        BUNIT='ELECTRONS')
    with pytest.raises(ValueError, match='pixels are in electron.*no positive '
                                         'EXPTIME'):
        MultiBandImage.read([path])
    path = primary_file(tmp_path / 'd.fits', ramp(0), FILTER='F555W',
                        BUNIT='COUNTS', EXPTIME=100.0, GAIN=1.5)
    assert MultiBandImage.read([path])['F555W'].meta['scale'] == pytest.approx(0.015)


def test_bad_hdu_choices(tmp_path):
    path = two_chip_file(tmp_path / 'x_flc.fits')
    with pytest.raises(ValueError, match=r"has no HDU \('SCI', 3\); it has 0 "
                                         r'\(PRIMARY,1\), 1 \(SCI,1\)'):
        MultiBandImage.read([path], hdu=('SCI', 3))
    with pytest.raises(ValueError, match='cannot understand the HDU'):
        MultiBandImage.read([path], hdu=1.5)
    with pytest.raises(ValueError, match='cannot understand the HDU'):
        MultiBandImage.read([f'{path}[SCI,two]'])
    empty = tmp_path / 'empty.fits'
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name='a', format='E', array=np.zeros(3))])]).writeto(empty)
    with pytest.raises(ValueError, match='no 2-D image HDU'):
        MultiBandImage.read({'F555W': empty})
    with pytest.raises(ValueError, match='is not an image'):
        MultiBandImage.read({'F555W': empty}, hdu=1)
    with pytest.raises(ValueError, match='no FITS files given'):
        MultiBandImage.read([])
