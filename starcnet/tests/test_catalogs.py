# Licensed under a 3-clause BSD style license - see LICENSE.rst

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.utils.data import get_pkg_data_filename

from starcnet.catalogs import LEGUS_BANDS, read_legus, read_sextractor
from starcnet.cutouts import cutout_origin
from starcnet.exceptions import StarcnetWarning

# The project's shared reference data sit beside the repository in
# development clones and CI; users' installs do not have them.
SHARED = Path(__file__).resolve().parents[2].parent / 'shared' / 'data'
LEGUS_DIR = SHARED / 'legus' / 'catalogs'
needs_shared = pytest.mark.skipif(not LEGUS_DIR.is_dir(),
                                  reason='shared LEGUS catalogs not present')

NGC1566 = 'hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor_excerpt.tab'
NGC1313W = 'hlsp_legus_hst_wfc3_ngc1313-w_multiband_v1_padagb-mwext-avgapcor_excerpt.tab'
NGC45 = 'hlsp_legus_hst_wfc3_ngc45_multiband_v1_padagb-mwext-avgapcor_excerpt.tab'
NGC4449 = 'hlsp_legus_hst_acs-wfc3_ngc4449_multiband_v2_padagb-mwext-avgapcor_excerpt.tab'
UGCA281 = 'hlsp_legus_hst_acs-wfc3_ugca281_multiband_v2_padagb-mwext-avgapcor.tab.gz'


def data_path(name):
    return get_pkg_data_filename(f'data/{name}', package='starcnet.tests')


def raw(name):
    return np.loadtxt(data_path(name), ndmin=2)


def class_counts(table):
    return np.bincount(table['human_class'].filled(0), minlength=5).tolist()


def test_legus_standard_layout():
    table = read_legus(data_path(NGC1566))
    a = raw(NGC1566)
    assert len(table) == 10
    assert table.meta['galaxy'] == 'ngc1566'
    assert table.meta['instrument'] == 'wfc3'
    assert table.meta['version'] == 'v1'
    assert table.meta['class_column'] == 33
    # the file's name, not a column name (a loop variable once shadowed it)
    assert table.meta['filename'] == NGC1566
    assert table['id'].tolist() == [1, 2, 3, 4, 5, 6, 7, 11, 12, 20]
    # 0-based positions: published minus one
    np.testing.assert_array_equal(table['x'], a[:, 1] - 1)
    np.testing.assert_array_equal(table['y_catalog'], a[:, 2])
    assert isinstance(table['sky_centroid'], SkyCoord)
    assert table['sky_centroid'].frame.name == 'icrs'
    np.testing.assert_allclose(table['sky_centroid'].ra.deg, a[:, 3])
    np.testing.assert_allclose(table['sky_centroid'].dec.deg, a[:, 4])
    # row 1: F275W 99.999 (not detected), F336W 21.635 +- 0.095
    assert table['mag_F275W'].unit == u.mag
    assert table['mag_F275W'].mask[0] and table['mag_err_F275W'].mask[0]
    assert table['in_footprint_F275W'][0]
    assert table['mag_F336W'][0].unmasked == 21.635 * u.mag
    assert not table['mag_F336W'].mask[0]
    assert table['mag_err_F336W'][0].unmasked == 0.095 * u.mag
    assert table['ci'][0] == 3.538 * u.mag
    # row 1 has no SED fit (v1: zeros, n_filters 0); row 2 has one
    assert table['age'].mask[0] and table['n_filters'].mask[0]
    assert table['age'][1].unmasked == 1.5e7 * u.yr
    assert table['mass'][1].unmasked == 1.318e4 * u.solMass
    assert table['ebv_max'][1].unmasked == 0.22 * u.mag
    assert table['n_filters'][1] == 5
    np.testing.assert_allclose(table['sed_q'][1], 0.04479)
    assert table['human_class'].filled(0).tolist() == [0, 4, 0, 1, 3, 3, 1, 2, 2, 4]
    assert table['human_class'].mask.tolist() == (a[:, 33] == 0).tolist()
    # further columns kept as published, 1-based names
    assert [c for c in table.colnames if c.startswith('catalog_col')] == [
        'catalog_col35', 'catalog_col36', 'catalog_col37', 'catalog_col38',
        'catalog_col39']
    np.testing.assert_array_equal(table['catalog_col36'], a[:, 35])


def test_legus_positions_reproduce_published_cutout():
    """
    cutout_origin at the 0-based positions gives the original StarcNet
    cutout data[int(Y)-16:int(Y)+16, int(X)-16:int(X)+16].
    """
    table = read_legus(data_path(UGCA281))
    ix, iy = cutout_origin(table['x'], table['y'])
    X, Y = table['x_catalog'], table['y_catalog']
    np.testing.assert_array_equal(ix, X.astype(int) - 16)
    np.testing.assert_array_equal(iy, Y.astype(int) - 16)
    # and the same pixels for half-integer and integer positions
    for X, Y in [(100.0, 200.0), (100.5, 200.999), (17.0, 16.0)]:
        ix, iy = cutout_origin(X - 1, Y - 1)
        assert (ix, iy) == (int(X) - 16, int(Y) - 16)


def test_legus_ngc1313_layout():
    table = read_legus(data_path(NGC1313W))
    a = raw(NGC1313W)
    assert table.meta['galaxy'] == 'ngc1313-w'
    assert table.meta['class_column'] == 35
    assert 'NGC 1313' in table.meta['layout']
    np.testing.assert_array_equal(table['x_catalog'], a[:, 1])
    np.testing.assert_array_equal(table['x_mosaic_catalog'], a[:, 3])
    np.testing.assert_array_equal(table['y_mosaic_catalog'], a[:, 4])
    np.testing.assert_allclose(table['sky_centroid'].ra.deg, a[:, 5])
    np.testing.assert_allclose(table['sky_centroid'].dec.deg, a[:, 6])
    # rows 1-6: F275W and F336W 66.666 = outside the footprint
    assert table['mag_F275W'].mask[:6].all()
    assert not table['in_footprint_F275W'][:6].any()
    assert not table['in_footprint_F336W'][:6].any()
    assert table['in_footprint_F438W'][:6].all()
    assert table['mag_F438W'][0].unmasked == 15.797 * u.mag
    assert table['mag_F555W'][0].unmasked == 14.741 * u.mag
    assert table['ci'][0] == 2.109 * u.mag
    assert class_counts(table) == [6, 2, 2, 2, 2]
    assert table['human_class'].filled(0).tolist() == a[:, 35].astype(int).tolist()
    assert [c for c in table.colnames if c.startswith('catalog_col')] == ['catalog_col37']


def test_legus_ngc45_class_column():
    table = read_legus(data_path(NGC45))
    assert table.meta['class_column'] == 34
    assert class_counts(table) == [6, 2, 2, 2, 2]
    # the 0/1 column 33 is kept as a further column
    assert 'catalog_col34' in table.colnames
    # v2-style sentinels: n_filters 200 and E(B-V) 200 = no SED fit
    assert table['n_filters'].mask[0] and table['ebv'].mask[0]
    # row 2 was fitted without F275W and F438W: their residuals are 200
    assert not table['n_filters'].mask[1]
    assert table['sed_residual_F275W'].mask[1]
    assert table['sed_residual_F438W'].mask[1]
    assert not table['sed_residual_F336W'].mask[1]


def test_legus_unlabelled_catalog():
    table = read_legus(data_path(NGC4449))
    assert table.meta['galaxy'] == 'ngc4449'
    assert table.meta['class_column'] is None
    assert 'unlabelled' in table.meta['class_column_note']
    assert table['human_class'].mask.all()
    # the user may pick a column, checked to hold 0-4 labels
    table = read_legus(data_path(NGC4449), class_column=35)
    assert table.meta['class_column'] == 35
    assert class_counts(table) == np.bincount(raw(NGC4449)[:, 35].astype(int),
                                              minlength=5).tolist()
    with pytest.raises(ValueError, match=r'column 33 .* not a human-class column.*5'):
        read_legus(data_path(NGC4449), class_column=33)


def test_legus_gzip_whole_catalog():
    table = read_legus(data_path(UGCA281))
    assert len(table) == 327
    assert table.meta['galaxy'] == 'ugca281'
    assert table.meta['instrument'] == 'acs-wfc3'
    assert class_counts(table) == [278, 2, 9, 4, 34]
    a = np.loadtxt(data_path(UGCA281))
    for k, band in enumerate(LEGUS_BANDS):
        mag = a[:, 5 + 2 * k]
        expect = np.isclose(mag, 99.999) | np.isclose(mag, 66.666)
        assert table[f'mag_{band}'].mask.tolist() == expect.tolist()
        assert (~table[f'in_footprint_{band}']).tolist() == np.isclose(mag, 66.666).tolist()


def test_legus_errors(tmp_path):
    with pytest.raises(ValueError, match=r'class_column=40 .* 36 columns'):
        read_legus(data_path(UGCA281), class_column=40)
    with pytest.raises(ValueError, match='class_column must be'):
        read_legus(data_path(UGCA281), class_column='33')
    ragged = tmp_path / 'hlsp_legus_hst_wfc3_ngc628-c_multiband_v1_x.tab'
    ragged.write_text('1 2 3\n1 2\n')
    with pytest.raises(ValueError, match=r'ngc628-c_multiband_v1_x.tab: not a LEGUS catalog'):
        read_legus(ragged)
    empty = tmp_path / 'empty.tab'
    empty.write_text('')
    with pytest.raises(ValueError, match=r'empty.tab: has no rows'):
        read_legus(empty)
    narrow = tmp_path / 'narrow.tab'
    narrow.write_text('1 2 3 4 5\n')
    with pytest.raises(ValueError, match=r'narrow.tab: has 5 columns'):
        read_legus(narrow)


def test_legus_other_file_name(tmp_path):
    # a renamed file gets the default layout, with a warning
    path = tmp_path / 'my_catalog.tab'
    shutil.copy(data_path(NGC1566), path)
    with pytest.warns(StarcnetWarning, match=r'my_catalog.tab: .*class_column=33'):
        table = read_legus(path)
    assert table.meta['galaxy'] is None
    assert table.meta['class_column'] == 33
    assert class_counts(table) == [2, 2, 2, 2, 2]
    # no warning when the column is given
    assert read_legus(path, class_column=33).meta['class_column'] == 33
    # a column that is not 0-4 labels is an error
    path = tmp_path / 'my_ngc4449.tab'
    shutil.copy(data_path(NGC4449), path)
    with pytest.raises(ValueError, match=r'my_ngc4449.tab: column 33 .*class_column='):
        with pytest.warns(StarcnetWarning):
            read_legus(path)


def _expected_counts():
    expected = {}
    text = (SHARED / 'legus' / 'class_counts.txt').read_text().splitlines()[1:]
    for line in text:
        galaxy = line.split()[0]
        nrow = int(re.search(r'\bN=\s*(\d+)', line)[1])
        column = int(re.search(r'\bcol=(\d+)', line)[1])
        ok = re.search(r'\bok=(\w+)', line)[1] == 'True'
        counts = re.search(r'counts=\[([^\]]*)\]', line)
        counts = [int(v) for v in counts[1].split()] if counts else None
        expected[galaxy] = (nrow, column if ok else None, counts)
    return expected


@needs_shared
def test_legus_all_catalogs_class_counts():
    """
    Every published catalog: row count, class column and class counts as
    in class_counts.txt.
    """
    expected = _expected_counts()
    paths = sorted(LEGUS_DIR.glob('*.tab'))
    assert len(paths) == len(expected)
    for path in paths:
        table = read_legus(path)
        nrow, column, counts = expected[table.meta['galaxy']]
        assert len(table) == nrow, path.name
        assert table.meta['class_column'] == column, path.name
        if counts is None:
            assert table['human_class'].mask.all(), path.name
        else:
            assert class_counts(table) == counts, path.name
        assert np.all(np.isfinite(table['x'])) and table['x'].min() >= 0


# --- Source Extractor -------------------------------------------------------

ASCII_HEAD = """\
#   1 NUMBER                 Running object number
#   2 FLUX_APER              Flux vector within fixed circular aperture(s)              [count]
#   5 FLUXERR_APER           RMS error vector for aperture flux(es)                     [count]
#   8 MAG_AUTO               Kron-like elliptical aperture magnitude                    [mag]
#   9 MU_MAX                 Peak surface brightness above background        [mag * arcsec**(-2)]
#  10 X_IMAGE                Object position along x                                    [pixel]
#  11 Y_IMAGE                Object position along y                                    [pixel]
#  12 XWIN_IMAGE             Windowed position estimate along x                         [pixel]
#  13 YWIN_IMAGE             Windowed position estimate along y                         [pixel]
#  14 ALPHA_J2000            Right ascension of barycenter (J2000)                      [deg]
#  15 DELTA_J2000            Declination of barycenter (J2000)                          [deg]
#  16 ALPHAWIN_J2000         Windowed right ascension (J2000)                           [deg]
#  17 DELTAWIN_J2000         windowed declination (J2000)                               [deg]
#  18 ISOAREA_IMAGE          Isophotal area above Analysis threshold                    [pixel**2]
#  19 FLAGS                  Extraction flags
#  20 CLASS_STAR             S/G classifier output
#  21 FWHM_IMAGE             FWHM assuming a gaussian core                              [pixel]
"""
ROWS = """\
         1   1.2e+03   2.0e+03   3.0e+03   10.5   20.5   30.5  -21.3032  17.2145   3007.141   5902.000   3007.160   5901.952  65.0034000 -54.9070700  65.0033998 -54.9070703    30  0 0.983  2.13
         2   1.3e+03   2.1e+03   3.1e+03   11.5   21.5   31.5  -20.3032  18.2145   2798.442   5853.267   2798.420   5853.301  65.0073900 -54.9076100  65.0073902 -54.9076098    31  2 0.122  3.10
"""  # noqa: E501


def test_sextractor_ascii_head(tmp_path):
    path = tmp_path / 'field.cat'
    path.write_text(ASCII_HEAD + ROWS)
    table = read_sextractor(path)
    assert table.meta['format'] == 'ASCII_HEAD'
    assert table['NUMBER'].tolist() == [1, 2]
    assert table['FLUX_APER_2'].unit == u.ct
    assert table['MAG_AUTO'][0] == -21.3032 * u.mag
    # windowed positions preferred, 1-based -> 0-based
    assert table.meta['position_columns'] == ['XWIN_IMAGE', 'YWIN_IMAGE',
                                              'ALPHAWIN_J2000', 'DELTAWIN_J2000']
    np.testing.assert_allclose(table['x'], [3006.160, 2797.420])
    np.testing.assert_allclose(table['y'], [5900.952, 5852.301])
    np.testing.assert_allclose(table['sky_centroid'].ra.deg, [65.0033998, 65.0073902])
    # isophotal barycentres on request
    table = read_sextractor(path, position='image')
    np.testing.assert_allclose(table['x'], [3006.141, 2797.442])
    np.testing.assert_allclose(table['sky_centroid'].dec.deg, [-54.90707, -54.90761])
    # an empty catalog is an empty table with all columns
    path.write_text(ASCII_HEAD)
    table = read_sextractor(path)
    assert len(table) == 0 and 'x' in table.colnames


def test_sextractor_ascii_head_without_win_or_sky(tmp_path):
    path = tmp_path / 'field.cat'
    path.write_text(
        '#   1 NUMBER                 Running object number\n'
        '#   2 X_IMAGE                Object position along x                 [pixel]\n'
        '#   3 Y_IMAGE                Object position along y                 [pixel]\n'
        '#   4 MAG_AUTO               Kron-like elliptical aperture magnitude [mag]\n'
        '       1   3007.141   5902.000  -21.3032\n'
        '       2   2798.442   5853.267  -20.3032\n')
    table = read_sextractor(path)
    assert table.meta['position_columns'] == ['X_IMAGE', 'Y_IMAGE']
    assert 'sky_centroid' not in table.colnames
    np.testing.assert_allclose(table['x'], [3006.141, 2797.442])
    with pytest.raises(ValueError, match='XWIN_IMAGE/YWIN_IMAGE'):
        read_sextractor(path, position='win')


def _ldac(path, n_objects=1):
    imhead = fits.Header()
    imhead['NAXIS1'] = 6000
    imhead['NAXIS2'] = 6000
    imhead['CTYPE1'] = 'RA---TAN'
    imhead['CTYPE2'] = 'DEC--TAN'
    cards = np.array([str(card) for card in imhead.cards], dtype='S80')
    hdus = [fits.PrimaryHDU()]
    for _ in range(n_objects):
        head = fits.BinTableHDU.from_columns(
            [fits.Column(name='Field Header Card', format=f'{80 * len(cards)}A',
                         dim=f'(80, {len(cards)})', array=cards[None, :])],
            name='LDAC_IMHEAD')
        objects = fits.BinTableHDU.from_columns([
            fits.Column(name='NUMBER', format='J', array=[1, 2, 3]),
            fits.Column(name='X_IMAGE', format='E', unit='pixel', array=[10.0, 20.5, 30.25]),
            fits.Column(name='Y_IMAGE', format='E', unit='pixel', array=[11.0, 21.5, 31.25]),
            fits.Column(name='ALPHA_J2000', format='D', unit='deg',
                        array=[65.0, 65.001, 65.002]),
            fits.Column(name='DELTA_J2000', format='D', unit='deg',
                        array=[-54.9, -54.901, -54.902]),
            fits.Column(name='FLUX_APER', format='3E', unit='count',
                        array=np.arange(9.0).reshape(3, 3)),
            fits.Column(name='MU_MAX', format='E', unit='mag * arcsec**(-2)',
                        array=[18.0, 19.0, 20.0]),
            fits.Column(name='FLAGS', format='I', array=[0, 2, 0]),
        ], name='LDAC_OBJECTS')
        hdus += [head, objects]
    fits.HDUList(hdus).writeto(path)


def test_sextractor_fits_ldac(tmp_path):
    path = tmp_path / 'field.ldac'
    _ldac(path)
    table = read_sextractor(path)
    assert table.meta['format'] == 'FITS_LDAC'
    assert table.meta['position_columns'] == ['X_IMAGE', 'Y_IMAGE', 'ALPHA_J2000',
                                              'DELTA_J2000']
    np.testing.assert_allclose(table['x'], [9.0, 19.5, 29.25])
    np.testing.assert_allclose(table['y'], [10.0, 20.5, 30.25])
    assert table['FLUX_APER'].shape == (3, 3)
    np.testing.assert_allclose(table['sky_centroid'].dec.deg, [-54.9, -54.901, -54.902])


def test_sextractor_errors(tmp_path):
    path = tmp_path / 'two.ldac'
    _ldac(path, n_objects=2)
    with pytest.raises(ValueError, match=r'two.ldac: .* has 2 \(HDUs \[2, 4\]\); pick one'):
        read_sextractor(path)
    assert len(read_sextractor(path, hdu=4)) == 3
    with pytest.raises(ValueError, match='two.ldac: HDU 0 is not a binary table'):
        read_sextractor(path, hdu=0)
    plain = tmp_path / 'plain.cat'
    plain.write_text('1 2.0 3.0\n')
    with pytest.raises(ValueError, match=r'plain.cat: neither a FITS_LDAC nor an ASCII_HEAD'):
        read_sextractor(plain)
    with pytest.raises(ValueError, match="position must be"):
        read_sextractor(plain, position='peak')
