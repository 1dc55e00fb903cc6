# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The review server's pieces without a browser: the PNG encoder, the
stretches and limits, the queues, the token check, labelling and
resuming, and the checks of bad input.
"""

import json
import struct
import sys
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest
from astropy.table import MaskedColumn, QTable

from starcnet.conftest import make_test_scene
from starcnet.io import read_catalog, write_catalog
from starcnet.review import (CatalogMismatchError, JournalError, LabelJournal, read_journal)
from starcnet.review._png import encode_png
from starcnet.review._render import apply_stretch, display_limits, grey_image, rgb_image
from starcnet.review.queues import POSITION_STRIPE, QUEUES, review_order
from starcnet.tests._tools import require_module


# -- PNG --------------------------------------------------------------------
def decode_png(data):
    """An independent reader of what encode_png writes: (width, height, type, pixels)."""
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack('>I', data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b'IHDR', b'IDAT', b'IEND']
    width, height, depth, ctype, comp, filt, inter = struct.unpack('>IIBBBBB', chunks[0][1])
    assert (depth, comp, filt, inter) == (8, 0, 0, 0)
    channels = {0: 1, 2: 3}[ctype]
    raw = np.frombuffer(zlib.decompress(chunks[1][1]), np.uint8)
    raw = raw.reshape(height, 1 + width * channels)
    assert np.all(raw[:, 0] == 0)           # filter "none" on every row
    return width, height, ctype, raw[:, 1:].reshape(height, width, channels)


@pytest.mark.parametrize('shape', [(3, 5), (7, 4, 3), (1, 1)])
def test_png_round_trip(shape):
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    width, height, ctype, back = decode_png(encode_png(pixels))
    assert (height, width) == shape[:2]
    assert ctype == (2 if len(shape) == 3 else 0)
    np.testing.assert_array_equal(back.reshape(pixels.shape), pixels)


def test_png_read_by_pillow():
    image_module = require_module('PIL.Image', 'pip install pillow')
    import io

    pixels = np.zeros((6, 9, 3), np.uint8)
    pixels[1, 2] = (255, 10, 20)
    pixels[5, 8] = (0, 200, 0)
    image = image_module.open(io.BytesIO(encode_png(pixels)))
    assert image.size == (9, 6) and image.mode == 'RGB'
    np.testing.assert_array_equal(np.asarray(image), pixels)


@pytest.mark.parametrize('pixels, match', [
    (np.zeros((3, 3)), 'uint8'),
    (np.zeros((3, 3, 4), np.uint8), 'RGB'),
    (np.zeros((0, 3), np.uint8), 'at least one pixel'),
    (np.zeros(5, np.uint8), 'grey'),
])
def test_png_refuses(pixels, match):
    with pytest.raises(ValueError, match=match):
        encode_png(pixels)


# -- stretches and limits ---------------------------------------------------
@pytest.mark.parametrize('name', ['asinh', 'linear', 'sqrt', 'log'])
def test_stretch_ends_and_order(name):
    v = np.linspace(-0.5, 1.5, 41)
    out = apply_stretch(v, name)
    assert out[0] == 0 and out[-1] == 1          # clipped to 0-1
    assert np.all(np.diff(out) >= 0) and np.any(np.diff(out) > 0)


def test_stretch_values():
    assert apply_stretch(0.25, 'linear') == pytest.approx(0.25)
    assert apply_stretch(0.25, 'sqrt') == pytest.approx(0.5)
    assert apply_stretch(0.5, 'asinh') == pytest.approx(np.arcsinh(5) / np.arcsinh(10))
    assert apply_stretch(0.5, 'log') == pytest.approx(np.log(501) / np.log(1001))
    # asinh and log lift faint values above linear
    assert apply_stretch(0.05, 'asinh') > 0.15 and apply_stretch(0.05, 'log') > 0.5
    with pytest.raises(ValueError, match='stretch must be one of'):
        apply_stretch(0.5, 'gamma')


def test_display_limits():
    data = np.arange(101.0)
    assert display_limits(data, percentile=99) == pytest.approx((50.0, 99.0))
    assert display_limits(data, percentile=100) == (0.0, 100.0)
    assert display_limits(data, low=10, high=20) == (10.0, 20.0)
    assert display_limits(data, low=60) == pytest.approx((60.0, 99.5))
    with_nan = np.concatenate([data, [np.nan, np.inf]])
    assert display_limits(with_nan, percentile=100) == (0.0, 100.0)
    assert display_limits(np.full(9, 3.0)) == (3.0, 4.0)       # flat: a unit range
    with pytest.raises(ValueError, match='above the low'):
        display_limits(data, low=5, high=5)
    with pytest.raises(ValueError, match='percentile'):
        display_limits(data, percentile=30)
    with pytest.raises(ValueError, match='finite'):
        display_limits(data, low=float('nan'))


def test_grey_image_is_y_up_and_scaled():
    data = np.zeros((4, 6))
    data[0, 1] = 10.0                  # lowest y: the bottom row of the picture
    data[3, 5] = 5.0
    data[2, 2] = np.nan
    pixels, limits = grey_image(data, stretch='linear', low=0, high=10)
    assert limits == (0.0, 10.0) and pixels.dtype == np.uint8 and pixels.shape == (4, 6)
    assert pixels[3, 1] == 255 and pixels[0, 5] == 128 and pixels[1, 2] == 0
    assert pixels.sum() == 255 + 128


def test_rgb_image_channels_each_scaled():
    red = np.zeros((3, 3))
    red[1, 1] = 1.0
    green = np.zeros((3, 3))
    green[0, 0] = 100.0                # another scale: each band has its own limits
    blue = np.zeros((3, 3))
    pixels, limits = rgb_image(red, green, blue, stretch='linear', percentile=100)
    assert pixels.shape == (3, 3, 3)
    assert tuple(pixels[1, 1]) == (255, 0, 0)
    assert tuple(pixels[2, 0]) == (0, 255, 0)      # row 0 shown at the bottom
    assert limits[1] == (0.0, 100.0) and limits[2] == (0.0, 1.0)


# -- queues -----------------------------------------------------------------
def classified(n=8, seed=3):
    rng = np.random.default_rng(seed)
    table = QTable()
    table['id'] = np.arange(1, n + 1)
    table['x'] = rng.uniform(24, 216, n)
    table['y'] = rng.uniform(24, 176, n)
    p = rng.dirichlet(np.ones(4), n)
    unclassified = np.zeros(n, bool)
    unclassified[2] = True
    classes = np.argmax(p, axis=1) + 1
    table['cluster_class'] = MaskedColumn(classes, mask=unclassified)
    for k in range(4):
        table[f'prob_class{k + 1}'] = MaskedColumn(p[:, k], mask=unclassified)
    table['starcnet_flags'] = np.where(unclassified, 8 | 1, 0).astype(np.int16)
    return table


def test_priority_queue_prefers_review_priority():
    t = classified()
    t['class_quality'] = MaskedColumn(np.linspace(0.9, 0.2, 8), mask=t['cluster_class'].mask)
    t['review_priority'] = MaskedColumn([0.1, 0.9, 0.5, 0.3, 0.9, 0.0, 0.7, 0.2],
                                        mask=[0, 0, 0, 0, 0, 1, 0, 0])
    assert review_order(t, 'priority').tolist() == [1, 4, 6, 2, 3, 7, 0, 5]
    del t['review_priority']                     # lowest class_quality first, masked last
    assert review_order(t, 'priority').tolist() == [7, 6, 5, 4, 3, 1, 0, 2]
    del t['class_quality']                       # lowest top probability first
    top = np.max([np.asarray(t[f'prob_class{k}']) for k in range(1, 5)], axis=0)
    expected = [int(r) for r in np.argsort(top) if r != 2] + [2]
    assert review_order(t, 'priority').tolist() == expected
    for k in range(1, 5):
        del t[f'prob_class{k}']
    assert review_order(t, 'priority').tolist() == list(range(8))


def test_class_uncertainty_and_unclassified_queues():
    t = classified(n=30)
    classes = np.ma.filled(t['cluster_class'], 0)
    for k in range(1, 5):
        rows = review_order(t, f'class{k}')
        assert set(rows.tolist()) == set(np.flatnonzero(classes == k).tolist())
        probs = np.asarray(t[f'prob_class{k}'])[rows]
        assert np.all(np.diff(probs) >= 0)        # least probable first
    assert review_order(t, 'unclassified').tolist() == [2]
    rows = review_order(t, 'uncertainty')
    p = np.column_stack([np.asarray(t[f'prob_class{k}']) for k in range(1, 5)])
    h = -(p * np.log(p)).sum(axis=1)
    assert rows[-1] == 2 and np.all(np.diff(h[rows[:-1]]) <= 0)
    t['entropy'] = MaskedColumn(np.arange(30.0), mask=t['cluster_class'].mask)
    assert review_order(t, 'uncertainty').tolist()[:3] == [29, 28, 27]
    with pytest.raises(ValueError, match='cluster_class'):
        review_order(QTable({'x': [1.0], 'y': [2.0]}), 'class1')
    with pytest.raises(ValueError, match='unknown review queue'):
        review_order(t, 'brightest')


def test_position_queue_serpentine():
    s = POSITION_STRIPE
    t = QTable({'x': [5.0, 50.0, 20.0, 40.0, 10.0], 'y': [1.0, 3.0, s + 2.0, s + 1.0, 2 * s]})
    # stripe 0 left to right, stripe 1 right to left, stripe 2 left to right
    assert review_order(t, 'position').tolist() == [0, 1, 3, 2, 4]


def test_random_queue_seeded():
    t = classified(n=50)
    a = review_order(t, 'random', seed=4)
    assert sorted(a.tolist()) == list(range(50))
    np.testing.assert_array_equal(a, review_order(t, 'random', seed=4))
    assert not np.array_equal(a, review_order(t, 'random', seed=5))
    assert set(QUEUES) >= {'priority', 'uncertainty', 'position', 'random', 'class1'}


# -- the server -------------------------------------------------------------
@pytest.fixture
def setup(tmp_path):
    require_module('flask', 'pip install starcnet[review]')
    bands, sources = make_test_scene(n=8, seed=3)
    cat = classified(n=8, seed=3)
    cat['x'], cat['y'] = sources['x'], sources['y']
    path = tmp_path / 'field.ecsv'
    write_catalog(cat, path)
    return path, bands


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def post(url, data):
    request = urllib.request.Request(url, data=json.dumps(data).encode(), method='POST',
                                     headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_token_required_on_every_request(setup):
    from starcnet.review import ReviewServer

    path, bands = setup
    with ReviewServer(path, bands, reviewer='ana') as server:
        assert server.url.startswith('http://127.0.0.1:') and server.token in server.url
        assert server._server.server_address[0] == '127.0.0.1'
        base = f'http://127.0.0.1:{server.port}'
        for route in ['/', '/api/queue/priority', '/api/source/0', '/img/0/rgb.png',
                      '/nothing/here']:
            for query in ['', '?token=', '?token=wrong' + server.token[5:]]:
                status, body, _ = get(base + route + query)
                assert status == 403, (route, query)
                assert server.token.encode() not in body and b'"rows"' not in body
                assert b'token' in body                 # says what is missing
        status, body = post(base + '/api/label?token=nope', {'row': 0, 'label': 1})
        assert status == 403 and server.labels() == {}
        status, body, headers = get(base + '/?token=' + server.token)
        assert status == 200 and b'starcnet review' in body
        assert "default-src 'none'" in headers['Content-Security-Policy']
        # no fetch leaves the server: no external address in the page
        assert b'http://' not in body.replace(b'http://www.w3.org/2000/svg', b'')
        assert b'https://' not in body
        status, _, _ = get(base + '/api/queue/priority', {'X-Review-Token': server.token})
        assert status == 200


def test_label_journal_and_ecsv(setup, tmp_path):
    from starcnet.review import ReviewServer

    path, bands = setup
    server = ReviewServer(path, bands, reviewer='ana', queue='catalog').start()
    base = f'http://127.0.0.1:{server.port}'
    token = server.token
    try:
        status, body, _ = get(f'{base}/api/queue/catalog?token={token}')
        queue = json.loads(body)
        assert queue['rows'] == list(range(8)) and queue['start'] == 0
        for row, label in [(0, 3), (1, 'skip'), (2, 'unsure')]:
            status, reply = post(f'{base}/api/label?token={token}',
                                 {'row': row, 'label': label, 'note': 'n' if row else None})
            assert status == 200 and reply['record']['label'] == label
        status, reply = post(f'{base}/api/label?token={token}', {'row': 3, 'label': 7})
        assert status == 400 and b'class 1-4' in reply
        status, body, _ = get(f'{base}/api/source/0?token={token}')
        source = json.loads(body)
        assert source['human']['label'] == '3' and source['model']['probs'] is not None
        status, body, _ = get(f'{base}/api/source/2?token={token}')
        source = json.loads(body)
        assert source['model']['class'] is None
        assert source['flags']['names'] == ['EDGE', 'UNCLASSIFIED']
        status, png, headers = get(f'{base}/img/1/rgb.png?size=48&stretch=log&token={token}')
        assert status == 200 and headers['Content-Type'] == 'image/png'
        assert decode_png(png)[:2] == (48, 48)
        status, png, _ = get(f'{base}/img/1/F336W.png?size=16&low=0&high=1&token={token}')
        assert decode_png(png)[:3] == (16, 16, 0)
        status, png, _ = get(f'{base}/img/1/field.png?size=128&blue=F336W&token={token}')
        assert decode_png(png)[:2] == (128, 128)
        for bad in ['size=33', 'stretch=gamma', 'blue=F275W', 'low=x']:
            assert get(f'{base}/img/1/rgb.png?{bad}&token={token}')[0] == 400, bad
        assert get(f'{base}/img/99/rgb.png?token={token}')[0] == 400
    finally:
        server.stop()
    journal = read_journal(tmp_path / 'field.ana.labels.jsonl')
    assert journal['row'].tolist() == [0, 1, 2]
    labelled = read_catalog(tmp_path / 'field.ana.labels.ecsv')
    assert labelled['human_class'].tolist() == [3] + [None] * 7
    assert labelled['human_label'].tolist()[:3] == ['3', 'skip', 'unsure']
    assert labelled['human_note'].tolist()[:3] == [None, 'n', 'n']
    # the input catalog is untouched
    assert 'human_class' not in read_catalog(path).colnames
    # reopened: resumes after the labelled rows, labels ECSV rewritten at start
    (tmp_path / 'field.ana.labels.ecsv').unlink()
    with ReviewServer(path, bands, reviewer='ana', queue='catalog') as again:
        assert again.queue_state('catalog')['start'] == 3
        assert again.labels() == {0: 3, 1: 'skip', 2: 'unsure'}
        assert read_catalog(again.labels_path)['human_class'][0] == 3


def test_api_label_and_flush(setup):
    from starcnet.review import ReviewServer

    path, bands = setup
    server = ReviewServer(path, bands, reviewer='bob', port=0)
    try:
        server.label(4, 2)
        server.label(4, 1, note='on second thought')
        server.flush()
        labelled = read_catalog(server.labels_path)
        assert labelled['human_class'][4] == 1
        assert labelled['human_note'][4] == 'on second thought'
    finally:
        server.stop()
    server.stop()                                 # twice is harmless


def test_bad_inputs(setup, tmp_path):
    from starcnet.review import ReviewServer

    path, bands = setup
    no_xy = tmp_path / 'noxy.ecsv'
    write_catalog(QTable({'id': [1, 2], 'flux': [1.0, 2.0]}), no_xy)
    with pytest.raises(ValueError, match='no pixel positions'):
        ReviewServer(no_xy, bands, reviewer='ana')
    small = {b: a[:100, :120] for b, a in bands.items()}
    with pytest.raises(ValueError, match='outside the 120x100 band images'):
        ReviewServer(path, small, reviewer='ana')
    odd = dict(bands)
    odd['F999W'] = odd.pop('F275W')
    with pytest.raises(ValueError, match='unknown band'):
        ReviewServer(path, odd, reviewer='ana')
    four = {b: a for b, a in bands.items() if b != 'F814W'}
    with pytest.raises(ValueError, match='F814W'):
        ReviewServer(path, four, reviewer='ana')
    with pytest.raises(ValueError, match='unknown review queue'):
        ReviewServer(path, bands, reviewer='ana', queue='best')
    with pytest.raises(ValueError, match='never overwritten'):
        ReviewServer(path, bands, reviewer='ana', labels_out=path)
    foreign = tmp_path / 'other.ecsv'
    write_catalog(QTable({'x': [1.0], 'y': [1.0]}), foreign)
    with pytest.raises(FileExistsError, match='not the labelled catalog'):
        ReviewServer(path, bands, reviewer='ana', labels_out=foreign)
    theirs = tmp_path / 'bob.jsonl'
    LabelJournal(theirs, 'bob', path).close()
    with pytest.raises(JournalError, match="reviewer 'bob'"):
        ReviewServer(path, bands, reviewer='ana', journal=theirs)
    elsewhere = tmp_path / 'elsewhere.jsonl'
    LabelJournal(elsewhere, 'ana', QTable({'id': [5], 'x': [1.0], 'y': [2.0]})).close()
    with pytest.raises(CatalogMismatchError):
        ReviewServer(path, bands, reviewer='ana', journal=elsewhere)
    with pytest.raises(ValueError, match='journal= and labels_out='):
        ReviewServer(read_catalog(path), bands, reviewer='ana')
    # nothing was left behind by the refusals but the journals made on purpose
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'bob.jsonl', 'elsewhere.jsonl', 'field.ecsv', 'noxy.ecsv', 'other.ecsv']


def test_cli_bad_input_is_an_error_before_serving(setup, tmp_path, capsys):
    from astropy.io import fits

    from starcnet.cli import main

    path, bands = setup
    args = []
    for band, data in bands.items():
        fits.PrimaryHDU(data[:50, :50]).writeto(tmp_path / f'{band}.fits')
        args.append(f'{band}={tmp_path / band}.fits')
    assert main(['review', str(path), *args, '--reviewer', 'ana', '--no-browser']) == 1
    err = capsys.readouterr().err
    assert 'outside the 50x50 band images' in err


def test_missing_flask_says_how_to_install(setup, monkeypatch):
    from starcnet.review import ReviewServer

    path, bands = setup
    monkeypatch.setitem(sys.modules, 'flask', None)
    with pytest.raises(ImportError, match=r'pip install starcnet\[review\]'):
        ReviewServer(path, bands, reviewer='ana')


def test_default_paths_and_names(tmp_path):
    from starcnet.review import default_paths

    journal, labels = default_paths(tmp_path / 'ngc 628.ecsv', 'Ana Lopez/2')
    assert journal == str(tmp_path / 'ngc 628.Ana_Lopez_2.labels.jsonl')
    assert labels == str(tmp_path / 'ngc 628.Ana_Lopez_2.labels.ecsv')
    with pytest.raises(ValueError, match='usable'):
        default_paths('a.ecsv', ' ana')
