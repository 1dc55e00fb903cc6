# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The review page in a real headless browser (the system Chromium driven
by Playwright): labelling with the keyboard, ``kill -9`` and a restart,
the token, two reviewers merged, and the documentation screenshots
(written where ``STARCNET_DOCS_SCREENSHOTS`` points).
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

import starcnet
from starcnet.io import read_catalog, write_catalog
from starcnet.review import merge_reviews, read_journal
from starcnet.tests._tools import require_module, require_tool

CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                 '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']
KEYS = {1: '1', 2: '2', 3: '3', 4: '4', 'skip': 's', 'unsure': 'u'}


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """A small simulated scene, classified (``starcnet demo``)."""
    require_module('flask', 'pip install starcnet[review]')
    from starcnet.simulation.demo import run_demo

    folder = tmp_path_factory.mktemp('demo')
    result = run_demo(folder, size=192, seed=2)
    assert len(result.catalog) >= 25
    bands = [f'{b}={result.paths[b]}' for b in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')]
    return result, bands


@pytest.fixture(scope='module')
def browser():
    sync_api = require_module('playwright.sync_api',
                              'pip install playwright (the system Chromium is used; '
                              'do not run playwright install)')
    executable = require_tool('chromium')
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Server:
    """``python -m starcnet review ...`` as a subprocess."""

    def __init__(self, catalog, bands, reviewer, folder, *extra):
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(starcnet.__file__))
        env['PYTHONPATH'] = os.pathsep.join([root, env.get('PYTHONPATH', '')])
        self.stderr = open(folder / f'{reviewer}.stderr', 'w')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'starcnet', 'review', str(catalog), *bands,
             '--reviewer', reviewer, '--no-browser', '--port', '0', *extra],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout],
                         daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=180)
            except queue.Empty:
                self.kill()
                pytest.fail('starcnet review printed no address in 180 s')
            if 'review page for' in line:
                self.url = line.split(': ', 1)[1].strip()
                break
        self.base, self.token = self.url.split('/?token=')

    def get(self, path, token=True):
        url = self.base + path + (f'?token={self.token}' if token is True else
                                  f'?token={token}' if token else '')
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.close()

    def close(self):
        self.proc.stdout.close()
        self.stderr.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)   # stops it as Ctrl-C does
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.close()


def open_page(browser, server, requests=None):
    page = browser.new_page(viewport={'width': 1280, 'height': 800})
    errors = []
    page.on('pageerror', lambda exc: errors.append(str(exc)))
    page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
    if requests is not None:
        page.on('request', lambda r: requests.append(r.url))
    page.goto(server.url)
    expect()(page.locator('body')).to_have_attribute('data-ready', '1', timeout=60000)
    page.errors = errors
    return page


def text(page, element_id):
    return page.inner_text(f'#{element_id}')


# The page's Content-Security-Policy forbids eval, so the tests wait with
# locator assertions (Playwright's isolated world), never page.evaluate.
def expect():
    return require_module('playwright.sync_api').expect


def wait_row(page, row):
    expect()(page.locator('body')).to_have_attribute('data-row', str(row), timeout=30000)


def label_with_keys(page, rows, labels, n, done=0):
    for i, label in enumerate(labels):
        wait_row(page, rows[i])
        page.keyboard.press(KEYS[label])
        expect()(page.locator('#progress')).to_have_text(f'{done + i + 1} / {n}',
                                                         timeout=30000)


def wait_images(page):
    for img in page.locator('img:not([hidden])').all():
        expect()(img).to_have_js_property('complete', True, timeout=30000)
        assert img.element_handle().get_property('naturalWidth').json_value() > 0


def test_label_kill_restart_resume(demo, browser, tmp_path):
    result, bands = demo
    catalog = result.paths['catalog']
    n = len(result.catalog)
    journal, labels_out = tmp_path / 'ana.jsonl', tmp_path / 'ana.ecsv'
    args = ('--journal', str(journal), '--labels-out', str(labels_out))
    server = Server(catalog, bands, 'ana', tmp_path, *args)
    try:
        # the token: none, empty and wrong are refused with no data
        # a wrong token: the right one with its first character changed (a
        # fixed 'x' was the right one whenever the token began with x)
        wrong = ('y' if server.token[0] == 'x' else 'x') + server.token[1:]
        for token in (None, '', wrong):
            for path in ('/', '/api/queue/priority', '/api/source/0', '/img/0/rgb.png'):
                status, body = server.get(path, token=token)
                assert status == 403 and b'"rows"' not in body and b'PNG' not in body
        status, body = server.get('/api/queue/priority')
        rows = json.loads(body)['rows']
        assert status == 200 and len(rows) == n
        requests = []
        page = open_page(browser, server, requests)
        assert text(page, 'position') == f'1 / {n}'
        labels = [1, 2, 3, 4, 'skip', 'unsure', 1, 2, 3, 4]
        label_with_keys(page, rows, labels, n)
        wait_row(page, rows[10])
        # every request went to the server, with the token
        assert requests and all(u.startswith(server.base + '/') for u in requests)
        assert all(f'token={server.token}' in u for u in requests)
        assert page.errors == []
        page.close()
    finally:
        server.kill()                       # kill -9: no chance to write anything
    assert server.proc.returncode == -signal.SIGKILL
    # every acknowledged label is in the journal
    written = read_journal(journal)
    assert written['row'].tolist() == rows[:10]
    assert written['label'].tolist() == [str(v) for v in labels]

    server = Server(catalog, bands, 'ana', tmp_path, *args)
    try:
        labelled = read_catalog(labels_out)
        expected = {r: str(v) for r, v in zip(rows, labels)}
        got = {i: v for i, v in enumerate(labelled['human_label'].tolist()) if v is not None}
        assert got == expected
        classes = labelled['human_class']
        assert [classes[r] for r in rows[:4]] == [1, 2, 3, 4]
        assert np.ma.is_masked(classes[rows[4]]) and np.ma.is_masked(classes[rows[5]])
        page = open_page(browser, server)
        assert page.get_attribute('body', 'data-row') == str(rows[10])
        assert text(page, 'position') == f'11 / {n}'
        assert text(page, 'progress') == f'10 / {n}'
        # arrows move back over the labelled ones, which show their label
        page.keyboard.press('ArrowLeft')
        wait_row(page, rows[9])
        assert text(page, 'human').startswith('4')
        page.keyboard.press('ArrowRight')
        wait_row(page, rows[10])
        assert text(page, 'human') == 'not labelled yet'
        page.close()
    finally:
        server.stop()
    assert server.proc.returncode == 0
    assert 'human_class' not in read_catalog(catalog).colnames    # input untouched


def test_two_reviewers_merged(demo, browser, tmp_path):
    from starcnet import MultiBandImage
    from starcnet.review import ReviewServer

    result, bands = demo
    catalog = result.paths['catalog']
    n = len(result.catalog)
    ana_journal = tmp_path / 'ana.jsonl'
    server = Server(catalog, bands, 'ana', tmp_path, '--journal', str(ana_journal),
                    '--labels-out', str(tmp_path / 'ana.ecsv'), '--queue', 'catalog')
    try:
        page = open_page(browser, server)
        label_with_keys(page, list(range(6)), [1, 2, 3, 4, 1, 2], n)
        page.close()
    finally:
        server.stop()
    image = MultiBandImage.read(dict(b.split('=', 1) for b in bands))
    bob = ReviewServer(catalog, image, reviewer='bob', journal=tmp_path / 'bob.jsonl',
                       labels_out=tmp_path / 'bob.ecsv')
    try:
        for row, label in enumerate([1, 2, 3, 3, 'skip', 2]):
            bob.label(row, label)
    finally:
        bob.stop()
    merged = merge_reviews([ana_journal, tmp_path / 'bob.ecsv'])
    s = merged.sources
    assert s['human_class'][:6].tolist() == [1, 2, 3, None, 1, 2]
    assert s['tie'][:6].tolist() == [False, False, False, True, False, False]
    assert s['n_reviewers'][:6].tolist() == [2, 2, 2, 2, 1, 2]
    assert s['agreement'][:6].tolist() == [1.0, 1.0, 1.0, 0.5, 1.0, 1.0]
    pair = merged.pairs[0]
    assert (pair['reviewer_a'], pair['reviewer_b'], pair['n_common']) == ('ana', 'bob', 5)
    assert pair['agreement'] == pytest.approx(0.8)
    # kappa by hand: p_o = 0.8, p_e = .2*.2 + .4*.4 + .2*.4 + .2*0 = 0.28
    assert pair['kappa'] == pytest.approx((0.8 - 0.28) / 0.72)
    matrix = merged.agreement
    assert matrix['reviewer'].tolist() == ['ana', 'bob']
    assert matrix['bob'][0] == pytest.approx(0.8) and matrix['ana'][1] == pytest.approx(0.8)


def test_screenshots(demo, browser, tmp_path):
    """The page at 1280x800, with and without the field; saved for the docs on request."""
    from starcnet import MultiBandImage, StarClusterClassifier

    result, bands = demo
    image = MultiBandImage.read(dict(b.split('=', 1) for b in bands))
    sources = result.catalog[['id', 'x_centroid', 'y_centroid']]
    clf = StarClusterClassifier(uncertainty='mc_dropout', n_samples=8)
    catalog = tmp_path / 'demo_uncertainty.ecsv'
    write_catalog(clf(image, sources), catalog)
    server = Server(catalog, bands, 'ana', tmp_path)
    try:
        page = open_page(browser, server)
        # a few labels so the progress bar shows
        status, body = server.get('/api/queue/priority')
        rows = json.loads(body)['rows']
        label_with_keys(page, rows, [2, 4, 3], len(rows))
        wait_images(page)
        page.wait_for_timeout(300)
        shots = {'review_page.png': page.screenshot()}
        page.keyboard.press('f')
        expect()(page.locator('#img-field')).to_be_visible()
        wait_images(page)
        page.wait_for_timeout(300)
        shots['review_field.png'] = page.screenshot()
        assert page.errors == []
        html = page.query_selector('html')
        assert html.get_property('scrollWidth').json_value() <= 1280
        assert html.get_property('scrollHeight').json_value() <= 800
        page.close()
    finally:
        server.stop()
    for name, png in shots.items():
        assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 20000, name
    folder = os.environ.get('STARCNET_DOCS_SCREENSHOTS')
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name, png in shots.items():
            with open(os.path.join(folder, name), 'wb') as fh:
                fh.write(png)
