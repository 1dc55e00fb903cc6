# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
starcnet.io.samp.send against a private hub (the ``samp_hub`` fixture)
with clients that record what they receive.
"""

import os

import numpy as np
import pytest
from astropy import units as u

from starcnet.io import catalog_to_regions, write_catalog
from starcnet.io.samp import DS9_MTYPE, TABLE_MTYPE, send
from starcnet.tests._samp import Receiver, url_path
from starcnet.tests._tools import require_module

require_module('pyvo.samp', 'pip install pyvo')


def test_send_catalog_and_regions(samp_hub, classified, tmp_path):
    server, receivers = samp_hub
    topcat = Receiver(server, 'topcat', TABLE_MTYPE)
    ds9 = Receiver(server, 'ds9', DS9_MTYPE)
    receivers += [topcat, ds9]
    catalog = classified.copy()
    catalog['mag_F555W'] = np.linspace(20, 22, len(catalog)) * u.mag
    catalog['mag_F555W'].info.description = 'Vega magnitude'
    sent = send(catalog, catalog_to_regions(catalog), name='ngc0')
    assert sent == {TABLE_MTYPE: [topcat.id], DS9_MTYPE: [ds9.id]}
    (params, table), = topcat.received
    assert params['name'] == 'ngc0'
    sent_file = url_path(params['url'])
    assert len(table) == len(catalog)
    assert table.colnames == catalog.colnames
    for name in catalog.colnames:
        assert table[name].info.description == catalog[name].info.description
    assert table['mag_F555W'].unit == u.mag
    assert np.allclose(table['mag_F555W'], catalog['mag_F555W'])
    assert table['sky_centroid'].ra.unit == 'deg'
    assert np.ma.getmaskarray(table['cluster_class']).sum() == 1
    (params, text), = ds9.received
    assert params['cmd'].startswith('regions load {')
    assert text.count('circle(') == len(classified)
    # the temporary files are gone once the receivers replied
    region_file = params['cmd'][params['cmd'].index('{') + 1:-1]
    assert sent_file.endswith('ngc0.vot') and region_file.endswith('ngc0.reg')
    assert not os.path.exists(sent_file) and not os.path.exists(region_file)


def test_send_file_to_named_recipient(samp_hub, classified, tmp_path):
    server, receivers = samp_hub
    topcat = Receiver(server, 'topcat', TABLE_MTYPE)
    other = Receiver(server, 'aladin', TABLE_MTYPE)
    receivers += [topcat, other]
    path = tmp_path / 'c.vot'
    write_catalog(classified, path)
    with pytest.warns(Warning, match='no DS9 is registered'):
        sent = send(path, tmp_path / 'none.reg', recipient='topcat')
    assert sent == {TABLE_MTYPE: [topcat.id], DS9_MTYPE: []}
    assert other.received == []
    assert url_path(topcat.received[0][0]['url']) == str(path)
    assert path.exists()


def test_no_receiver(samp_hub, classified):
    with pytest.raises(ConnectionError, match='no SAMP client that loads VOTables'):
        send(classified)


def test_no_hub(tmp_path, monkeypatch, classified):
    monkeypatch.setenv('SAMP_HUB', f'std-lockurl:{(tmp_path / "none").as_uri()}')
    with pytest.raises(ConnectionError, match='no SAMP hub is running'):
        send(classified)
