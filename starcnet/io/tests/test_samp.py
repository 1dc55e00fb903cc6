# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
SAMP: a private hub (pyvo's, standard profile only, its lock file in a
temporary folder named by SAMP_HUB, so the user's ~/.samp is never
read or written) and receiving clients that record what they get.
"""

import threading
import urllib.parse
import urllib.request

import numpy as np
import pytest

from starcnet.tests._tools import require_module

samp = require_module('pyvo.samp', 'pip install pyvo')

from starcnet.io import catalog_to_regions, read_votable, write_catalog  # noqa: E402
from starcnet.io.samp import DS9_MTYPE, TABLE_MTYPE, send  # noqa: E402


def _path(url):
    return urllib.request.url2pathname(urllib.parse.urlparse(url).path)


class Receiver:
    """A SAMP client that reads what it is sent while the file still exists."""

    def __init__(self, hub, name, mtype):
        self.received = []
        self.done = threading.Event()
        self.client = samp.SAMPIntegratedClient(name=name)
        self.client.connect(hub=hub)
        self.client.bind_receive_call(mtype, self._receive)

    def _receive(self, private_key, sender_id, msg_id, mtype, params, extra):
        try:
            if mtype == TABLE_MTYPE:
                self.received.append((params, read_votable(_path(params['url']))))
            else:
                cmd = params['cmd']
                path = cmd[cmd.index('{') + 1:cmd.rindex('}')]
                with open(path) as fh:
                    self.received.append((params, fh.read()))
            self.client.reply(msg_id, {'samp.status': samp.SAMP_STATUS_OK,
                                       'samp.result': {}})
        finally:
            self.done.set()

    def close(self):
        self.client.disconnect()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    lockfile = tmp_path / 'samp'
    monkeypatch.setenv('SAMP_HUB', f'std-lockurl:{lockfile.as_uri()}')
    server = samp.SAMPHubServer(web_profile=False, lockfile=str(lockfile),
                                mode='single', pool_size=1)
    server.start(wait=False)
    receivers = []
    try:
        yield server, receivers
    finally:
        for receiver in receivers:
            receiver.close()
        server.stop()
    assert not lockfile.exists()


def test_send_catalog_and_regions(hub, classified, tmp_path):
    server, receivers = hub
    topcat = Receiver(server, 'topcat', TABLE_MTYPE)
    ds9 = Receiver(server, 'ds9', DS9_MTYPE)
    receivers += [topcat, ds9]
    sent = send(classified, catalog_to_regions(classified), name='ngc0')
    assert sent == {TABLE_MTYPE: [topcat.client.get_public_id()],
                    DS9_MTYPE: [ds9.client.get_public_id()]}
    (params, table), = topcat.received
    assert params['name'] == 'ngc0'
    assert len(table) == len(classified)
    for name in classified.colnames:
        assert table[name].info.description == classified[name].info.description
    assert table['sky_centroid'].ra.unit == 'deg'
    assert np.ma.getmaskarray(table['cluster_class']).sum() == 1
    (params, text), = ds9.received
    assert params['cmd'].startswith('regions load {')
    assert text.count('circle(') == len(classified)
    # the temporary files are gone once the receivers replied
    assert not list(tmp_path.glob('starcnet-samp-*'))


def test_send_file_to_named_recipient(hub, classified, tmp_path):
    server, receivers = hub
    topcat = Receiver(server, 'topcat', TABLE_MTYPE)
    other = Receiver(server, 'aladin', TABLE_MTYPE)
    receivers += [topcat, other]
    path = tmp_path / 'c.vot'
    write_catalog(classified, path)
    with pytest.warns(Warning, match='no DS9 is registered'):
        sent = send(path, tmp_path / 'none.reg', recipient='topcat')
    assert sent == {TABLE_MTYPE: [topcat.client.get_public_id()], DS9_MTYPE: []}
    assert other.received == []
    assert _path(topcat.received[0][0]['url']) == str(path)
    assert path.exists()


def test_no_receiver(hub, classified):
    with pytest.raises(ConnectionError, match='no SAMP client that loads VOTables'):
        send(classified)


def test_no_hub(tmp_path, monkeypatch, classified):
    monkeypatch.setenv('SAMP_HUB', f'std-lockurl:{(tmp_path / "none").as_uri()}')
    with pytest.raises(ConnectionError, match='no SAMP hub is running'):
        send(classified)
