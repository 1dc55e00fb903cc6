# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
SAMP test helpers: a private hub (pyvo's, standard profile only, its lock
file in a temporary folder named by SAMP_HUB, so that the user's ~/.samp
is never read or written) and receiving clients that record what they
are sent.  The ``samp_hub`` fixture in ``starcnet/conftest.py`` uses them.
"""

import contextlib
import threading
import urllib.parse
import urllib.request

from starcnet.tests._tools import require_module

__all__ = ['Receiver', 'private_hub', 'url_path']

TABLE_MTYPE = 'table.load.votable'


def url_path(url):
    """The local path of a ``file:`` URL."""
    return urllib.request.url2pathname(urllib.parse.urlparse(url).path)


class Receiver:
    """
    A SAMP client that subscribes to ``mtype`` and records each message
    with what it read (a table, or a region file's text) while the file
    still exists, then replies OK.
    """

    def __init__(self, hub, name, mtype):
        samp = require_module('pyvo.samp', 'pip install pyvo')
        self._ok = samp.SAMP_STATUS_OK
        self.received = []
        self.done = threading.Event()
        self.client = samp.SAMPIntegratedClient(name=name)
        self.client.connect(hub=hub)
        self.client.bind_receive_call(mtype, self._receive)

    @property
    def id(self):
        return self.client.get_public_id()

    def _receive(self, private_key, sender_id, msg_id, mtype, params, extra):
        from starcnet.io import read_votable

        try:
            if mtype == TABLE_MTYPE:
                self.received.append((params, read_votable(url_path(params['url']))))
            else:
                cmd = params['cmd']
                path = cmd[cmd.index('{') + 1:cmd.rindex('}')]
                with open(path) as fh:
                    self.received.append((params, fh.read()))
            self.client.reply(msg_id, {'samp.status': self._ok, 'samp.result': {}})
        finally:
            self.done.set()

    def close(self):
        self.client.disconnect()


@contextlib.contextmanager
def private_hub(directory, monkeypatch):
    """
    A running pyvo SAMP hub whose lock file is ``directory/samp``
    (``SAMP_HUB`` points there while it runs); yields ``(hub,
    receivers)``: append `Receiver` objects to ``receivers`` and they are
    disconnected before the hub stops.
    """
    samp = require_module('pyvo.samp', 'pip install pyvo')
    lockfile = directory / 'samp'
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
