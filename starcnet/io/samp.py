# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Send a classified catalog to TOPCAT (or any SAMP table viewer) and its
regions to DS9 through a running SAMP hub, with `pyvo.samp`
(``pip install pyvo``; ``astropy.samp`` is deprecated since astropy 8).

TOPCAT starts a hub when none runs; DS9 registers with it once started
(or from its File > SAMP menu).
"""

import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import warnings

from astropy.table import Table

from ..exceptions import StarcnetWarning

__all__ = ['TABLE_MTYPE', 'DS9_MTYPE', 'send']

#: SAMP message type that loads a VOTable (TOPCAT, Aladin, DS9, ...).
TABLE_MTYPE = 'table.load.votable'
#: DS9's own SAMP message type, which runs one DS9 command.
DS9_MTYPE = 'ds9.set'


def _samp():
    try:
        from pyvo import samp
    except ImportError:
        msg = ('sending over SAMP needs pyvo: pip install pyvo '
               "(or pip install 'starcnet[samp]')")
        raise ImportError(msg) from None
    return samp


def _file_url(path):
    return urllib.parse.urljoin('file:', urllib.request.pathname2url(
        os.path.abspath(os.fspath(path))))


def _call(client, samp, recipients, message, timeout, what):
    for recipient in recipients:
        try:
            response = client.call_and_wait(recipient, message, str(max(1, round(timeout))))
        except samp.SAMPProxyError as exc:
            msg = f'SAMP client {recipient} did not load the {what}: {exc.faultString}'
            raise RuntimeError(msg) from None
        if response.get('samp.status') == samp.SAMP_STATUS_ERROR:
            text = response.get('samp.error', {}).get('samp.errortxt', 'no reason given')
            msg = f'SAMP client {recipient} could not load the {what}: {text}'
            raise RuntimeError(msg)


def _recipients(client, mtype, recipient):
    subscribed = list(client.get_subscribed_clients(mtype))
    if recipient is None:
        return subscribed
    names = {c: client.get_metadata(c).get('samp.name') for c in subscribed}
    return [c for c, name in names.items() if recipient in (c, name)]


def send(catalog, regions=None, *, hub=None, name='starcnet', recipient=None,
         timeout=60):
    """
    Send a catalog (as a VOTable) and optionally DS9 regions over SAMP.

    The catalog goes to every client of the hub that takes
    ``table.load.votable`` messages (TOPCAT, Aladin, DS9 ...); the
    regions go to every DS9 (``ds9.set`` with ``regions load FILE``).
    Tables and `~regions.Regions` are written to temporary files, which
    are removed once every recipient has replied (loaded them); files are
    sent as they are.

    Parameters
    ----------
    catalog : `~astropy.table.Table` or path-like
        A classified catalog, or a catalog file: a VOTable is sent as it
        is, another file (e.g. ECSV) is read with
        `~starcnet.io.read_catalog` and sent as a VOTable.
    regions : `~regions.Regions` or path-like, optional
        Regions (e.g. from `~starcnet.io.ds9.catalog_to_regions`) or a DS9
        region file.  DS9 has to show the image the regions belong to.
    hub : `pyvo.samp.SAMPHubServer`, optional
        The hub; by default the running one (from the ``SAMP_HUB``
        environment variable, else ``~/.samp``).
    name : str, optional
        The table name shown by the receiving applications, and this
        client's SAMP name.
    recipient : str, optional
        Send only to the client of this SAMP id or name (e.g.
        ``'topcat'``, ``'ds9'``).
    timeout : float, optional
        Seconds to wait for each recipient's reply.

    Returns
    -------
    sent : dict
        Message type (`TABLE_MTYPE`, `DS9_MTYPE`) to the list of SAMP
        client ids that loaded the data.

    Raises
    ------
    ConnectionError
        If no SAMP hub runs, or no client on it takes VOTables.
    RuntimeError
        If a client replies with an error or does not reply in time.
    """
    from regions import Regions

    from .core import catalog_format, read_catalog
    from .ds9 import write_regions
    from .votable import write_votable

    samp = _samp()
    client = samp.SAMPIntegratedClient(
        name=name, description='starcnet: StarcNet star-cluster classifications',
        callable=False)
    try:
        client.connect(hub=hub)
    except samp.SAMPHubError as exc:
        msg = (f'no SAMP hub is running ({exc}): start TOPCAT (it runs a hub) '
               'or another SAMP hub first, or point SAMP_HUB at a running one')
        raise ConnectionError(msg) from None
    tmpdir = tempfile.mkdtemp(prefix='starcnet-samp-')
    try:
        tables = _recipients(client, TABLE_MTYPE, recipient)
        if not tables:
            who = f' named {recipient!r}' if recipient else ''
            msg = (f'no SAMP client{who} that loads VOTables ({TABLE_MTYPE}) is '
                   'registered with the hub: start TOPCAT, or connect it to the hub')
            raise ConnectionError(msg)
        if isinstance(catalog, Table):
            path = os.path.join(tmpdir, f'{name}.vot')
            write_votable(catalog, path)
        elif catalog_format(catalog) == 'votable':
            path = os.fspath(catalog)
        else:
            path = os.path.join(tmpdir, f'{name}.vot')
            write_votable(read_catalog(catalog), path)
        message = {'samp.mtype': TABLE_MTYPE,
                   'samp.params': {'url': _file_url(path), 'name': name,
                                   'table-id': f'{name}:{os.path.basename(path)}'}}
        _call(client, samp, tables, message, timeout, 'catalog')
        sent = {TABLE_MTYPE: tables}
        if regions is not None:
            viewers = _recipients(client, DS9_MTYPE, recipient)
            if not viewers:
                warnings.warn('the regions were not sent: no DS9 is registered '
                              'with the SAMP hub', StarcnetWarning, stacklevel=2)
            else:
                if isinstance(regions, Regions):
                    region_path = os.path.join(tmpdir, f'{name}.reg')
                    write_regions(regions, region_path)
                else:
                    region_path = os.path.abspath(os.fspath(regions))
                message = {'samp.mtype': DS9_MTYPE,
                           'samp.params': {'cmd': f'regions load {{{region_path}}}'}}
                _call(client, samp, viewers, message, timeout, 'regions')
            sent[DS9_MTYPE] = viewers
        return sent
    finally:
        client.disconnect()
        shutil.rmtree(tmpdir, ignore_errors=True)
