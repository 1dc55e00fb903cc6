# Licensed under a 3-clause BSD style license - see LICENSE.rst

import subprocess

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import QTable
from astropy.utils.masked import Masked

from starcnet.io import read_catalog, write_catalog
from starcnet.tests._tools import missing, require_tool, stilts_input_formats


def _table():
    return QTable({
        'id': [1, 2, 3],
        'mag': Masked([20.1, 21.2, 99.0] * u.mag, mask=[False, False, True]),
        'sky_centroid': SkyCoord([10.0, 10.1, 10.2], [-5.0, -5.1, -5.2], unit='deg'),
        'cluster_class': np.ma.MaskedArray([1, 4, 2], mask=[False, True, False]),
    }, meta={'starcnet': {'model': 'x'}})


def test_round_trip(tmp_path):
    table = _table()
    path = tmp_path / 'c.ecsv'
    write_catalog(table, path)
    back = read_catalog(path)
    assert back.colnames == table.colnames
    assert back.meta == table.meta
    assert back['mag'].unit == u.mag
    assert list(np.ma.getmaskarray(back['mag'])) == [False, False, True]
    assert back['sky_centroid'].separation(table['sky_centroid']).max().arcsec < 1e-6
    assert 'SerializedColumn' not in path.read_text()


def test_unportable_column(tmp_path):
    from astropy.time import Time
    table = QTable({'t': Time([60000.0], format='mjd')})
    with pytest.raises(TypeError, match="column 't' \\(Time\\) cannot be written"):
        write_catalog(table, tmp_path / 't.ecsv')
    assert not (tmp_path / 't.ecsv').exists()


def test_stilts_reads_it(tmp_path):
    stilts = require_tool('stilts')
    if 'ecsv' not in stilts_input_formats(stilts):
        # Debian splits STILTS's ECSV reader into a package of its own
        missing('this STILTS has no ECSV reader: apt-get install starlink-ecsv-java')
    path = tmp_path / 'c.ecsv'
    write_catalog(_table(), path)
    out = subprocess.run([stilts, 'tpipe', f'in={path}', 'ifmt=ecsv',
                          'ofmt=csv'], capture_output=True, text=True, timeout=120,
                         check=True).stdout.splitlines()
    assert out[0] == 'id,mag,sky_centroid_ra,sky_centroid_dec,cluster_class'
    assert out[2].split(',')[-1] == ''          # masked class stays empty
    assert out[3].split(',')[1] == ''           # masked magnitude too
    assert len(out) == 4
