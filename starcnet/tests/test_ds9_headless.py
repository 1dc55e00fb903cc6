# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Our DS9 region files in SAOImage DS9 itself: DS9 runs headless under
Xvfb on a small FITS image, loads the regions starcnet writes for a
classified catalog, and hands them back over XPA; every region must come
through at its position (within 0.5 pixel) with its colour and label.

Needs ``ds9``, ``xvfb-run`` and ``xpaget`` / ``xpaset`` (``apt-get install
saods9 xpa-tools xvfb xauth``): skipped without them, failed in CI.
"""

import os
import signal
import subprocess
import time
import uuid

import numpy as np
import pytest
from regions import Regions

from starcnet.conftest import make_test_scene
from starcnet.cutouts import CutoutFlag
from starcnet.tests._tools import require_tool

#: How long DS9 may take to answer on XPA (it is slow to start on a busy machine).
XPA_WAIT = 20


@pytest.fixture
def ds9(tmp_path):
    """
    A headless DS9 on a small FITS image, reachable over XPA (unix sockets
    in ``tmp_path``) under a name of its own; yields ``(name, env, image
    shape)``.  DS9 and Xvfb are killed afterwards, whatever happened.
    """
    from astropy.io import fits

    ds9_path = require_tool('ds9')
    xvfb_run = require_tool('xvfb-run')
    require_tool('xpaget')
    require_tool('xpaset')
    image = tmp_path / 'f555w.fits'
    data = make_test_scene()[0]['F555W']
    fits.PrimaryHDU(data).writeto(image)
    name = f'starcnet-test-{os.getpid()}-{uuid.uuid4().hex[:8]}'
    xpa_dir = tmp_path / 'xpa'
    xpa_dir.mkdir()
    env = {**os.environ, 'XPA_METHOD': 'local', 'XPA_TMPDIR': str(xpa_dir)}
    log = open(tmp_path / 'ds9.log', 'w')
    process = subprocess.Popen(
        [xvfb_run, '-a', '-s', '-screen 0 1024x768x24', ds9_path, '-title', name, str(image)],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + XPA_WAIT
        while True:
            answer = subprocess.run(['xpaget', name, 'version'], capture_output=True,
                                    text=True, env=env, timeout=XPA_WAIT)
            if answer.returncode == 0 and answer.stdout.strip():
                break
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f'DS9 did not answer on XPA within {XPA_WAIT} s '
                            f'(exit status {process.poll()}): '
                            f'{(tmp_path / "ds9.log").read_text()[-2000:]}')
            time.sleep(0.25)
        yield name, env, data.shape
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def _xpa(args, env):
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=XPA_WAIT)
    assert done.returncode == 0, f'{" ".join(args)}: {done.stderr}'
    return done.stdout


def test_ds9_loads_our_regions(ds9, tmp_path):
    from starcnet import StarClusterClassifier
    from starcnet.io.ds9 import CLASS_COLORS, write_regions

    name, env, shape = ds9
    bands, sources = make_test_scene()
    # one source off the image: unclassified, magenta, labelled '?'
    sources.add_row({'x': -40.0, 'y': 30.0})
    clf = StarClusterClassifier(device='cpu')
    catalog = clf(bands, sources)
    flags = np.asarray(catalog['starcnet_flags'])
    assert flags[-1] & CutoutFlag.UNCLASSIFIED and not (flags[:-1] & CutoutFlag.UNCLASSIFIED).any()
    path = tmp_path / 'catalog.reg'
    write_regions(clf.to_regions(catalog), path)

    _xpa(['xpaset', '-p', name, 'regions', 'delete', 'all'], env)
    _xpa(['xpaset', '-p', name, 'regions', 'load', str(path)], env)
    text = _xpa(['xpaget', name, 'regions', '-format', 'ds9', '-system', 'image'], env)
    assert text.count('circle(') == len(catalog), text
    back = Regions.parse(text, format='ds9')    # 1-based in DS9, 0-based here
    assert len(back) == len(catalog)
    classes = np.ma.getdata(catalog['cluster_class'])
    masked = np.ma.getmaskarray(catalog['cluster_class'])
    for i, region in enumerate(back):
        assert abs(region.center.x - catalog['x'][i]) < 0.5, (i, region)
        assert abs(region.center.y - catalog['y'][i]) < 0.5, (i, region)
        assert region.radius == pytest.approx(5.0)
        cls = None if masked[i] else int(classes[i])
        assert region.visual.get('edgecolor', region.visual.get('color')) == CLASS_COLORS[cls]
        expected = '?' if cls is None else f'{cls} ({catalog[f"prob_class{cls}"][i]:.2f})'
        assert region.meta.get('text') == expected, (i, region)
