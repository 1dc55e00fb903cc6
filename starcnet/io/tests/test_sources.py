# Licensed under a 3-clause BSD style license - see LICENSE.rst

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable
from astropy.utils.data import get_pkg_data_filename

from starcnet.io import read_sources, source_format, write_catalog
from starcnet.tests.test_catalogs import ASCII_HEAD, ROWS, _ldac

LEGUS = get_pkg_data_filename(
    'data/hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor_excerpt.tab',
    package='starcnet.tests')


def test_legus_by_name():
    assert source_format(LEGUS) == 'legus'
    table = read_sources(LEGUS)
    assert table.meta['galaxy'] == 'ngc1566'
    assert {'x', 'y', 'sky_centroid'} <= set(table.colnames)


def test_sextractor_by_content(tmp_path):
    path = tmp_path / 'field.txt'
    path.write_text(ASCII_HEAD + ROWS)
    assert source_format(path) == 'sextractor'
    table = read_sources(path, position='image')
    assert table.meta['format'] == 'ASCII_HEAD'
    assert table['x'][0] == pytest.approx(3007.141 - 1)
    ldac = tmp_path / 'field.fits'
    _ldac(ldac)
    assert source_format(ldac) == 'sextractor'
    assert read_sources(ldac).meta['format'] == 'FITS_LDAC'


def test_plain_fits_table_goes_to_astropy(tmp_path):
    path = tmp_path / 'plain.fits'
    QTable({'x': [1.0, 2.0], 'y': [3.0, 4.0]}).write(path)
    assert source_format(path) is None
    assert list(read_sources(path)['y']) == [3.0, 4.0]


@pytest.mark.parametrize('name', ['s.ecsv', 's.vot'])
def test_starcnet_catalogs_keep_sky(tmp_path, name):
    table = QTable({'x': [1.0, 2.0], 'y': [3.0, 4.0],
                    'sky_centroid': SkyCoord([10, 11], [-5, -6], unit='deg')})
    write_catalog(table, tmp_path / name)
    back = read_sources(tmp_path / name)
    assert isinstance(back['sky_centroid'], SkyCoord)
    assert back['sky_centroid'].separation(table['sky_centroid']).max() < 1 * u.mas


def test_format_argument_and_errors(tmp_path):
    path = tmp_path / 'sources.dat'
    QTable({'x': [1.5], 'y': [2.5]}).write(path, format='ascii.csv')
    assert source_format(path, 'ascii.csv') == 'ascii.csv'
    assert source_format(path, 'ASCII.ECSV') == 'ecsv'
    assert read_sources(path, format='ascii.csv')['x'][0] == 1.5
    with pytest.raises(ValueError, match=r"cannot read .*sources.dat as sextractor: "
                       r".*give the format \(format='legus'"):
        read_sources(path, format='sextractor')
    with pytest.raises(FileNotFoundError):
        read_sources(tmp_path / 'missing.ecsv')
    fits.PrimaryHDU(np.zeros((2, 2))).writeto(tmp_path / 'image.fits')
    with pytest.raises(ValueError, match='image.fits with astropy'):
        read_sources(tmp_path / 'image.fits')
