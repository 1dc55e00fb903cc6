# Licensed under a 3-clause BSD style license - see LICENSE.rst

import csv
import io
import json
import subprocess

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from starcnet.classifier import OUTPUT_COLUMNS
from starcnet.io import (catalog_format, read_catalog, read_votable, write_catalog,
                         write_votable)
from starcnet.tests._tools import require_tool


def _columns(table):
    """name -> (unit, description) of the plain columns of a table."""
    out = {}
    for name in table.colnames:
        col = table[name]
        if isinstance(col, SkyCoord):
            continue
        unit = getattr(col, 'unit', None)
        out[name] = (None if unit in (None, u.dimensionless_unscaled) else unit,
                     col.info.description)
    return out


@pytest.mark.parametrize('suffix', ['.ecsv', '.vot', '.xml'])
def test_units_and_descriptions_round_trip(classified, tmp_path, suffix):
    path = tmp_path / f'cat{suffix}'
    write_catalog(classified, path)
    back = read_catalog(path)
    assert back.colnames == classified.colnames
    expected = _columns(classified)
    assert _columns(back) == expected
    for name in OUTPUT_COLUMNS:
        assert expected[name][1], f'{name} has no description'
        assert back[name].info.meta.get('ucd') == classified[name].info.meta['ucd']
    assert 'pixel position' in expected['x'][1]
    for name in ('cluster_class', 'cluster_class_name', 'prob_class1', 'prob_cluster'):
        assert np.ma.getmaskarray(back[name]).tolist() == [False] * 12 + [True], name
    assert not np.ma.getmaskarray(back['starcnet_flags']).any()
    ok = ~np.ma.getmaskarray(classified['cluster_class'])
    assert np.array_equal(np.ma.getdata(back['cluster_class'])[ok],
                          np.ma.getdata(classified['cluster_class'])[ok])
    assert list(back['cluster_class_name'][:12]) == list(classified['cluster_class_name'][:12])
    np.testing.assert_allclose(np.ma.getdata(back['prob_class2'])[ok],
                               np.ma.getdata(classified['prob_class2'])[ok], rtol=1e-6)
    assert (back['sky_centroid'].info.description
            == classified['sky_centroid'].info.description == 'sky position of (x, y) '
            'from the image WCS')
    assert back['sky_centroid'].separation(classified['sky_centroid']).max() < 1e-3 * u.arcsec
    assert back.meta == json.loads(json.dumps(classified.meta))
    assert back.meta['starcnet']['model'] == 'tiny-test'


def test_votable_masked_quantity_and_format(tmp_path):
    from astropy.table import QTable
    from astropy.utils.masked import Masked

    table = QTable({'id': [1, 2],
                    'mag': Masked([20.0, 99.0] * u.mag, mask=[False, True])})
    table['mag'].info.description = 'V magnitude'
    path = tmp_path / 'cat.txt'
    write_catalog(table, path, format='votable')
    assert path.read_bytes().lstrip().startswith(b'<?xml')
    back = read_catalog(path)            # format told from the first bytes
    assert back['mag'].unit == u.mag
    assert back['mag'].info.description == 'V magnitude'
    assert np.ma.getmaskarray(back['mag']).tolist() == [False, True]
    text = tmp_path / 'cat.tab.vot'
    write_votable(table, text, data_format='tabledata')
    assert '<TABLEDATA>' in text.read_text()
    assert read_votable(text)['mag'][0] == 20 * u.mag


def test_votable_errors(tmp_path):
    from astropy.table import Table
    path = tmp_path / 'x.vot'
    with pytest.raises(ValueError, match="data_format must be one of"):
        write_votable(Table({'a': [1]}), path, data_format='fits')
    with pytest.raises(TypeError, match="cannot be written to a VOTable"):
        write_votable(Table({'a': [1]}, meta={'bad': object()}), path)
    assert not path.exists()
    write_votable(Table({'a': [1]}), path)
    with pytest.raises(FileExistsError, match='overwrite=True'):
        write_catalog(Table({'a': [2]}), path)
    with pytest.raises(ValueError, match="unknown catalog format 'fits'"):
        catalog_format(path, 'fits')
    assert catalog_format('a.VOT') == 'votable'
    assert catalog_format('a.ecsv') == 'ecsv'
    assert catalog_format('a.txt') is None


def _stilts(*args):
    return subprocess.run([require_tool('stilts'), *args], capture_output=True,
                          text=True, timeout=180, check=True).stdout


def test_stilts_reads_votable(classified, tmp_path):
    path = tmp_path / 'cat.vot'
    write_catalog(classified, path)
    meta = list(csv.DictReader(io.StringIO(_stilts(
        'tpipe', f'in={path}', 'ifmt=votable', 'cmd=meta Name Units Description UCD',
        'ofmt=csv'))))
    by_name = {row['Name']: row for row in meta}
    plain = _columns(classified)
    assert set(by_name) == set(plain) | {'sky_centroid_ra', 'sky_centroid_dec'}
    for name, (unit, description) in plain.items():
        assert by_name[name]['Description'] == description, name
        assert by_name[name]['Units'] == ('' if unit is None else unit.to_string('vounit'))
    assert by_name['sky_centroid_ra']['Units'] == 'deg'
    assert by_name['prob_class1']['UCD'] == 'stat.probability'
    rows = list(csv.DictReader(io.StringIO(_stilts(
        'tpipe', f'in={path}', 'ifmt=votable', 'ofmt=csv'))))
    assert len(rows) == len(classified)
    for name in ('cluster_class', 'cluster_class_name', 'prob_class1', 'prob_cluster'):
        assert [row[name] == '' for row in rows] == [False] * 12 + [True], name
    assert rows[-1]['starcnet_flags'] != ''
    params = _stilts('tpipe', f'in={path}', 'ifmt=votable', 'omode=meta')
    assert 'starcnet_meta' in params and 'tiny-test' in params
