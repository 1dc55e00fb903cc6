# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
read_catalog on files whose sky-column metadata is malformed: a clear
ValueError naming the file, not an AttributeError or KeyError.
"""

import pytest
from astropy.table import Table

from starcnet.io import read_catalog, write_catalog


def _ecsv(path, meta, **columns):
    columns = columns or {'sky_ra': [10.0, 11.0], 'sky_dec': [-5.0, -6.0]}
    Table(columns, meta=meta).write(path, format='ascii.ecsv')
    return path


@pytest.mark.parametrize('record, match', [
    (['sky', 'sky_ra', 'sky_dec'], 'a list, not a mapping'),
    ('sky', 'a str, not a mapping'),
    ({'sky': ['sky_ra']}, 'is not a pair of column names'),
    ({'sky': 'sky_ra'}, 'is not a pair of column names'),
    ({'sky': ['sky_ra', 3]}, 'is not a pair of column names'),
    ({'sky': ['sky_ra', 'nope']}, "names column\\(s\\) 'nope', which the table lacks"),
    ({'sky': ['sky_ra', 'sky_ra']}, 'clashes with another column'),
    ({'sky': ['sky_ra', 'sky_dec'], 'sky2': ['sky_ra', 'sky_dec']},
     'a column is named by two sky columns'),
])
def test_malformed_sky_columns_ecsv(tmp_path, record, match):
    path = _ecsv(tmp_path / 'bad.ecsv', {'starcnet_sky_columns': record})
    expected = f"malformed sky-column metadata in '.*bad.ecsv': .*{match}"
    with pytest.raises(ValueError, match=expected):
        read_catalog(path)


def test_sky_column_not_an_angle(tmp_path):
    path = _ecsv(tmp_path / 'bad.ecsv', {'starcnet_sky_columns': {'sky': ['sky_ra', 'sky_dec']}},
                 sky_ra=['a', 'b'], sky_dec=[1.0, 2.0])
    with pytest.raises(ValueError, match="column 'sky_ra' of 'sky' is not an angle"):
        read_catalog(path)


def test_sky_name_clashes_with_a_column(tmp_path):
    path = _ecsv(tmp_path / 'bad.ecsv', {'starcnet_sky_columns': {'x': ['sky_ra', 'sky_dec']}},
                 x=[1.0, 2.0], sky_ra=[1.0, 2.0], sky_dec=[1.0, 2.0])
    with pytest.raises(ValueError, match="'x'.* clashes with another column"):
        read_catalog(path)


def test_good_record_and_bad_descriptions_still_read(tmp_path):
    path = _ecsv(tmp_path / 'ok.ecsv', {'starcnet_sky_columns': {'sky': ['sky_ra', 'sky_dec']},
                                        'starcnet_sky_descriptions': ['not', 'a', 'dict']})
    table = read_catalog(path)
    assert table.colnames == ['sky'] and table['sky'].ra.deg[0] == pytest.approx(10.0)


def test_votable_bad_meta(classified, tmp_path):
    path = tmp_path / 'cat.vot'
    write_catalog(classified, path)
    text = path.read_text()
    start = text.index('name="starcnet_meta"')
    value = text.index('value="', start) + len('value="')
    end = text.index('"', value)
    for payload, match in [('{not json', 'is not valid JSON'),
                           ('[1, 2]', 'holds a JSON list, not an object'),
                           ('{&quot;starcnet_sky_columns&quot;: 7}',
                            'malformed sky-column metadata .*a int, not a mapping')]:
        bad = tmp_path / 'bad.vot'
        bad.write_text(text[:value] + payload + text[end:])
        with pytest.raises(ValueError, match=match):
            read_catalog(bad)
