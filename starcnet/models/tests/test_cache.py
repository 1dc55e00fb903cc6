# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Tests of downloads and the astropy cache (`starcnet.models.cache`).

Downloads are tested against a local HTTP server on 127.0.0.1 with the
astropy cache redirected to a temporary directory; only tests marked
``remote_data`` touch the internet.
"""

import http.server
import os
import threading

import pytest
import torch
from astropy.utils import data as astropy_data

from starcnet.models import (
    StarcNet,
    convert_published_state_dict,
    get_model_info,
    get_model_path,
    import_model_file,
    is_cached,
    load_model,
)

from .helpers import closed_port_url, register, sha256_of
from .test_network import make_cutouts


def test_bundled_file_missing(monkeypatch):
    register(monkeypatch, name='test-bundled', kind='bundled',
             filename='no-such-model.safetensors', format='safetensors')
    assert not is_cached('test-bundled')
    with pytest.raises(FileNotFoundError, match='no-such-model.safetensors'):
        get_model_path('test-bundled')
    with pytest.raises(FileNotFoundError, match='no-such-model.safetensors'):
        load_model('test-bundled')
    assert get_model_info('test-bundled').config['width'] == 32


def test_download_then_offline(monkeypatch, temp_cache, weights, server):
    _, state, sha = weights
    info = register(monkeypatch, url=(server.url('starcnet.pth'),), sha256=sha)
    assert not is_cached('test-remote')
    cached = get_model_path('test-remote')
    assert str(temp_cache) in cached
    assert sha256_of(cached) == sha
    assert is_cached('test-remote')
    assert astropy_data.is_url_in_cache(info.url[0], pkgname='starcnet')

    server.stop()
    assert get_model_path('test-remote') == cached
    model, loaded_info = load_model('test-remote')
    assert loaded_info.name == 'test-remote'
    assert loaded_info.sha256 == sha
    x = make_cutouts(n=2)
    with torch.no_grad():
        reference = StarcNet(width=32, groups=8).eval()
        reference.load_state_dict(convert_published_state_dict(state))
        torch.testing.assert_close(model(x), reference(x), atol=0, rtol=0)


def test_download_from_mirror(monkeypatch, temp_cache, weights, server):
    register(monkeypatch, url=(server.url('missing.pth'),
                               server.url('starcnet.pth')), sha256=weights[2])
    cached = get_model_path('test-remote')
    assert sha256_of(cached) == weights[2]
    assert is_cached('test-remote')


def test_download_wrong_sha256(monkeypatch, temp_cache, weights, server):
    wrong = '0' * 64
    info = register(monkeypatch, url=(server.url('starcnet.pth'),), sha256=wrong)
    with pytest.raises(ValueError) as excinfo:
        get_model_path('test-remote')
    message = str(excinfo.value)
    assert wrong in message and weights[2] in message and info.url[0] in message
    assert not is_cached('test-remote')
    assert not astropy_data.is_url_in_cache(info.url[0], pkgname='starcnet')


def test_offline_not_cached(monkeypatch, temp_cache):
    register(monkeypatch, url=(closed_port_url(),), sha256='1' * 64)
    with pytest.raises(OSError, match='import_model_file') as excinfo:
        get_model_path('test-remote')
    assert 'test-remote' in str(excinfo.value)


def test_import_model_file(monkeypatch, temp_cache, weights):
    path, _, sha = weights
    info = register(monkeypatch, url=(closed_port_url(),), sha256=sha)
    assert not is_cached('test-remote')
    cached = import_model_file('test-remote', path)
    assert path.exists()
    assert is_cached('test-remote')
    assert get_model_path('test-remote') == cached
    assert sha256_of(cached) == sha
    _, loaded_info = load_model('test-remote')
    assert loaded_info.url == info.url and loaded_info.sha256 == sha


def test_import_model_file_wrong_sha256(monkeypatch, temp_cache, weights):
    wrong = 'f' * 64
    register(monkeypatch, url=(closed_port_url(),), sha256=wrong)
    with pytest.raises(ValueError) as excinfo:
        import_model_file('test-remote', weights[0])
    assert wrong in str(excinfo.value) and weights[2] in str(excinfo.value)
    assert not is_cached('test-remote')


def test_import_model_file_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match='bundled'):
        import_model_file('sim-small-v1', tmp_path / 'x')
    register(monkeypatch, url=(closed_port_url(),), sha256='1' * 64)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        import_model_file('test-remote', tmp_path / 'missing.pth')


@pytest.mark.remote_data
def test_legus_2021_download(temp_cache):
    path = get_model_path('legus-2021')
    info = get_model_info('legus-2021')
    assert os.path.getsize(path) == info.size
    assert sha256_of(path) == info.sha256
    model, loaded_info = load_model('legus-2021')
    assert sum(p.numel() for p in model.parameters()) == 15_265_156
    assert loaded_info.sha256 == info.sha256


class _TruncatingHandler(http.server.BaseHTTPRequestHandler):
    """Announces the whole file, sends half of it, and hangs up."""

    content = b''

    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', str(len(self.content)))
        self.end_headers()
        self.wfile.write(self.content[:len(self.content) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format, *args):
        pass


def test_interrupted_download_leaves_nothing(monkeypatch, temp_cache, weights):
    # A transfer cut short is an error, and no partial file is left in the
    # cache (astropy downloads to a temporary file, moved in when complete).
    path, _, sha = weights
    handler = type('Handler', (_TruncatingHandler,), {'content': path.read_bytes()})
    httpd = http.server.HTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.05})
    thread.start()
    try:
        url = f'http://127.0.0.1:{httpd.server_address[1]}/starcnet.pth'
        register(monkeypatch, url=(url,), sha256=sha)
        with pytest.raises(OSError, match='could not download'):
            get_model_path('test-remote')
        with pytest.raises(OSError, match='could not download'):
            load_model('test-remote')
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert not is_cached('test-remote')
    half = os.path.getsize(path) // 2
    leftovers = [os.path.join(folder, name) for folder, _, names in os.walk(temp_cache)
                 for name in names if os.path.getsize(os.path.join(folder, name)) >= half]
    assert not leftovers
