# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Tests of the model registry, the astropy download cache and weights files.

Downloads are tested against a local HTTP server on 127.0.0.1 with the
astropy cache redirected to a temporary directory; only tests marked
``remote_data`` touch the internet.
"""

import functools
import hashlib
import http.server
import json
import os
import socket
import threading

import numpy as np
import pytest
import torch
from astropy.config import paths as astropy_paths
from astropy.utils import data as astropy_data

from starcnet import conf
from starcnet.legus import CLASS_NAMES
from starcnet.models import (
    ModelInfo,
    StarcNet,
    get_model_info,
    get_model_path,
    import_model_file,
    is_cached,
    list_models,
    load_model,
    read_weights,
    registry,
    save_model,
)

from .test_network import make_cutouts, make_published_state_dict

METADATA = {
    'name': 'test-model',
    'description': 'a tiny test model',
    'bands': ['F275W', 'F336W', 'F438W', 'F555W', 'F814W'],
    'normalization': {'kind': 'asinh', 'offset': [0.1, 0.2, 0.3, 0.4, 0.5],
                      'scale': [1.0, 2.0, 3.0, 4.0, 5.0]},
    'license': 'BSD-3-Clause',
    'citation': 'nobody 2026',
    'training': {'epochs': 3, 'seed': 42, 'confusion': [[1, 2], [3, 4]],
                 'accuracy': 0.5},
}


def sha256_of(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class LocalServer:
    """A static-file HTTP server on 127.0.0.1, in a thread."""

    def __init__(self, directory):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.HTTPServer(('127.0.0.1', 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={'poll_interval': 0.05})
        self.thread.start()
        self.running = True

    def url(self, name):
        return f'http://127.0.0.1:{self.port}/{name}'

    def stop(self):
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()
            self.running = False


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}/starcnet.pth'


@pytest.fixture
def temp_cache(tmp_path):
    """Redirect the 'starcnet' astropy cache to a temporary directory."""
    cache = tmp_path / 'cache'
    cache.mkdir()
    if hasattr(astropy_paths, 'temporary_cache_dir_path'):  # astropy >= 8
        context = astropy_paths.temporary_cache_dir_path(cache, namespace='starcnet')
    else:  # pragma: no cover
        context = astropy_paths.set_temp_cache(cache)
    with context:
        assert str(cache) in astropy_paths.get_cache_dir('starcnet')
        yield cache


@pytest.fixture
def weights(tmp_path):
    """A small published-format checkpoint: (path, state_dict, sha256)."""
    directory = tmp_path / 'served'
    directory.mkdir()
    state = make_published_state_dict(width=32, seed=5)
    path = directory / 'starcnet.pth'
    torch.save(state, path)
    return path, state, sha256_of(path)


@pytest.fixture
def server(weights):
    srv = LocalServer(weights[0].parent)
    yield srv
    srv.stop()


def register(monkeypatch, **kwargs):
    """Register a temporary remote model for one test."""
    fields = {'name': 'test-remote', 'description': 'test', 'kind': 'remote',
              'format': 'published',
              'config': {'width': 32, 'n_bands': 5, 'n_classes': 4, 'size': 32,
                         'groups': 8, 'dropout': 0.5},
              'bands': ('F275W', 'F336W', 'F438W', 'F555W', 'F814W'),
              'normalization': {'kind': 'affine', 'offset': [0.0] * 5,
                                'scale': [1.0] * 5},
              'classes': dict(CLASS_NAMES)}
    fields.update(kwargs)
    info = ModelInfo(**fields)
    monkeypatch.setitem(registry._REGISTRY, info.name, info)
    return info


# ---------------------------------------------------------------------------
# The registry itself

def test_registry_entries():
    assert {'legus-2021', 'sim-small-v1', 'sim-small-v2'} <= set(list_models())
    info = get_model_info('legus-2021')
    assert info.kind == 'remote' and info.format == 'published'
    assert info.size == 61_077_488
    assert info.sha256 == ('5fb81eef6f103af9bd386ec888f043e0494a2f6b'
                           '35f2588193eb222e0cb26127')
    assert info.url[0].startswith('https://github.com/gperezs/StarcNet/raw/')
    assert len(info.url) == 2
    assert info.config['width'] == 128
    assert info.bands == ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')
    assert info.normalization.kind == 'affine'
    assert info.classes == CLASS_NAMES
    assert 'GPL' in info.license and '907' in info.citation
    # A copy: changing it leaves the registry alone.
    info.config['width'] = 1
    assert get_model_info('legus-2021').config['width'] == 128
    for name in ('sim-small-v1', 'sim-small-v2'):
        bundled = registry._REGISTRY[name]
        assert bundled.kind == 'bundled' and bundled.sha256 is None
        assert bundled.filename == f'{name}.safetensors'
    # the default is the newer one; the old weights stay loadable by name
    assert conf.default_model == 'sim-small-v2'
    assert load_model('sim-small-v1')[1].normalization.kind == 'asinh'
    info = load_model('sim-small-v2')[1]
    assert info.normalization.kind == 'local' and info.temperature != 1.0


@pytest.mark.parametrize('function', [get_model_info, get_model_path, is_cached,
                                      load_model])
def test_unknown_name(function):
    with pytest.raises(ValueError, match="did you mean 'legus-2021'") as excinfo:
        function('legus2021')
    assert "Known models: 'legus-2021', 'sim-small-v2', 'sim-small-v1'" in str(excinfo.value)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        load_model(tmp_path / 'nothing.pth')


def test_model_info_validation():
    with pytest.raises(ValueError, match='kind'):
        ModelInfo(name='x', description='', kind='cloud')
    with pytest.raises(ValueError, match='URL'):
        ModelInfo(name='x', description='', kind='remote')
    with pytest.raises(ValueError, match='format'):
        ModelInfo(name='x', description='', kind='remote', url='http://x',
                  format='onnx')


def test_bundled_file_missing(monkeypatch):
    register(monkeypatch, name='test-bundled', kind='bundled',
             filename='no-such-model.safetensors', format='safetensors')
    assert not is_cached('test-bundled')
    with pytest.raises(FileNotFoundError, match='no-such-model.safetensors'):
        get_model_path('test-bundled')
    with pytest.raises(FileNotFoundError, match='no-such-model.safetensors'):
        load_model('test-bundled')
    assert get_model_info('test-bundled').config['width'] == 32


def test_bundled_model_reads_its_metadata(monkeypatch, tmp_path):
    model = StarcNet(width=8)
    path = save_model(model, tmp_path / 'bundled.safetensors', METADATA)
    info = ModelInfo(name='test-bundled', description='from the registry',
                     kind='bundled', filename='bundled.safetensors')
    monkeypatch.setitem(registry._REGISTRY, info.name, info)
    monkeypatch.setattr(registry, '_bundled_path', lambda info: path)
    assert is_cached('test-bundled')
    described = get_model_info('test-bundled')
    assert described.config == model.config
    assert described.normalization.to_metadata() == METADATA['normalization']
    assert described.sha256 is None
    _, loaded_info = load_model('test-bundled')
    assert loaded_info.name == 'test-bundled'
    assert loaded_info.sha256 == sha256_of(path)
    assert loaded_info.bands == tuple(METADATA['bands'])
    assert loaded_info.classes == CLASS_NAMES


# ---------------------------------------------------------------------------
# Downloads and the cache

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
        from starcnet.models import convert_published_state_dict
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


# ---------------------------------------------------------------------------
# Weights files

def test_path_of_published_checkpoint(weights):
    path, _, sha = weights
    state_dict, meta, fmt = read_weights(path)
    assert fmt == 'published' and meta is None
    assert state_dict['branches.small.convs.4.weight'] is not None
    _, info = load_model(str(path))
    assert info.kind == 'file' and info.sha256 == sha
    assert info.config == {**get_model_info('legus-2021').config, 'width': 32}
    assert info.normalization == get_model_info('legus-2021').normalization


def test_path_identical_to_registered_file(monkeypatch, weights):
    register(monkeypatch, url=(closed_port_url(),), sha256=weights[2])
    _, info = load_model(weights[0])
    assert info.name == 'test-remote' and info.kind == 'remote'


def test_legacy_pickle_and_wrapper(tmp_path, weights):
    state = {'state_dict': {f'module.{k}': v for k, v in weights[1].items()}}
    path = tmp_path / 'legacy.pt'
    torch.save(state, path, _use_new_zipfile_serialization=False)
    with open(path, 'rb') as handle:
        assert handle.read(1) == b'\x80'
    _, info = load_model(path)
    assert info.format == 'published'


def test_published_checkpoint_with_bad_keys(tmp_path, weights):
    state = dict(weights[1])
    del state['aconv3.bias']
    path = tmp_path / 'bad.pth'
    torch.save(state, path)
    with pytest.raises(ValueError, match=r'missing keys: aconv3\.bias') as excinfo:
        load_model(path)
    assert 'bad.pth' in str(excinfo.value)


def test_unknown_format(tmp_path):
    path = tmp_path / 'weights.safetensors'
    path.write_text('this is not a weights file\n')
    with pytest.raises(ValueError, match='supported are safetensors'):
        load_model(path)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match='empty'):
        read_weights(empty)


def test_truncated_files(tmp_path, weights):
    content = weights[0].read_bytes()
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(content[:len(content) // 2])
    with pytest.raises(ValueError, match='truncated.pth'):
        load_model(truncated)

    saved = save_model(StarcNet(width=8), tmp_path / 'full.safetensors', METADATA)
    with open(saved, 'rb') as handle:
        content = handle.read()
    for n_bytes in (len(content) - 100, 200):
        cut = tmp_path / f'cut{n_bytes}.safetensors'
        cut.write_bytes(content[:n_bytes])
        with pytest.raises(ValueError, match=f'cut{n_bytes}.safetensors'):
            load_model(cut)


def test_save_model_round_trip(tmp_path):
    model = StarcNet(width=8).eval()
    path = tmp_path / 'model.safetensors'
    training = {**METADATA['training'], 'confusion': np.array([[1, 2], [3, 4]]),
                'accuracy': np.float32(0.5)}
    written = save_model(model, path, {**METADATA, 'training': training})
    assert written == str(path)
    assert os.listdir(tmp_path) == ['model.safetensors']  # no temporary left

    _, meta, fmt = read_weights(path)
    assert fmt == 'safetensors'
    assert meta['format'] == 'starcnet-weights' and meta['format_version'] == 1
    assert meta['config'] == model.config
    assert meta['classes'] == {str(k): v for k, v in CLASS_NAMES.items()}
    for key in ('name', 'description', 'bands', 'normalization', 'license',
                'citation', 'training'):
        assert meta[key] == METADATA[key]

    loaded, info = load_model(path)
    assert info.name == 'test-model' and info.kind == 'file'
    assert info.format == 'safetensors'
    assert info.sha256 == sha256_of(path)
    assert info.config == model.config
    assert info.bands == tuple(METADATA['bands'])
    assert info.normalization.to_metadata() == METADATA['normalization']
    assert info.classes == CLASS_NAMES
    assert not loaded.training
    x = make_cutouts(n=2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)


def test_save_model_overwrite(tmp_path):
    path = tmp_path / 'model.safetensors'
    save_model(StarcNet(width=8), path, METADATA)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match='overwrite=True'):
        save_model(StarcNet(width=16), path, METADATA)
    assert path.read_bytes() == before
    save_model(StarcNet(width=16), path, METADATA, overwrite=True)
    _, info = load_model(path)
    assert info.config['width'] == 16
    assert os.listdir(tmp_path) == ['model.safetensors']


@pytest.mark.parametrize('change, match', [
    ({'bands': ['F275W', 'F336W']}, 'bands'),
    ({'normalization': {'kind': 'log', 'offset': [0] * 5, 'scale': [1] * 5}},
     'normalization'),
    ({'normalization': {'kind': 'affine', 'offset': [0] * 4, 'scale': [1] * 5}},
     'offset'),
    ({'normalization': {'kind': 'affine', 'offset': [0] * 5, 'scale': [0] * 5}},
     'positive'),
    ({'normalization': {'kind': 'affine', 'offset': [0] * 5, 'scale': [-1] * 5}},
     'positive'),
    ({'normalization': {'kind': 'local', 'stretch': [1.0] * 4}}, 'stretches'),
    ({'normalization': {'kind': 'local', 'stretch': 0.0}}, 'positive'),
    ({'temperature': 0.0}, 'temperature'),
    ({'classes': {1: 'a', 2: 'b'}}, 'classes'),
    ({'config': {'width': 64}}, 'config'),
    ({'colour': 'blue'}, 'unknown metadata keys'),
    ({'format_version': 2}, 'format_version'),
    ({'training': {'when': object()}}, 'JSON'),
])
def test_save_model_bad_metadata(tmp_path, change, match):
    path = tmp_path / 'model.safetensors'
    with pytest.raises(ValueError, match=match):
        save_model(StarcNet(width=8), path, {**METADATA, **change})
    assert not os.listdir(tmp_path)


def test_safetensors_shape_mismatch(tmp_path):
    from safetensors.torch import save_file
    meta = {**METADATA, 'format': 'starcnet-weights', 'format_version': 1,
            'config': {'width': 16}, 'classes': {'1': 'a', '2': 'b', '3': 'c',
                                                 '4': 'd'}}
    state = StarcNet(width=8).state_dict()
    del state['head.bias']
    path = tmp_path / 'mismatch.safetensors'
    save_file(state, path, metadata={'starcnet': json.dumps(meta)})
    with pytest.raises(ValueError) as excinfo:
        load_model(path)
    message = str(excinfo.value)
    assert 'missing keys: head.bias' in message
    assert 'mis-shaped keys: branches.full.convs.0.bias' in message


def test_safetensors_without_metadata(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / 'bare.safetensors'
    save_file(StarcNet(width=8).state_dict(), path)
    assert read_weights(path)[1] is None
    with pytest.raises(ValueError, match='save_model'):
        load_model(path)


def test_safetensors_newer_format_version(tmp_path):
    from safetensors.torch import save_file
    meta = {**METADATA, 'format': 'starcnet-weights', 'format_version': 99,
            'config': StarcNet(width=8).config}
    path = tmp_path / 'future.safetensors'
    save_file(StarcNet(width=8).state_dict(), path,
              metadata={'starcnet': json.dumps(meta)})
    with pytest.raises(ValueError, match='format_version 99'):
        load_model(path)


@pytest.mark.remote_data
def test_legus_2021_download(temp_cache):
    path = get_model_path('legus-2021')
    info = get_model_info('legus-2021')
    assert os.path.getsize(path) == info.size
    assert sha256_of(path) == info.sha256
    model, loaded_info = load_model('legus-2021')
    assert sum(p.numel() for p in model.parameters()) == 15_265_156
    assert loaded_info.sha256 == info.sha256


def test_torch_save_of_our_state_dict_gets_a_hint(tmp_path):
    path = tmp_path / 'ours.pt'
    torch.save(StarcNet(width=8).state_dict(), path)
    with pytest.raises(ValueError, match='save_model'):
        load_model(path)
