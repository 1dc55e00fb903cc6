# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Tests of the model registry (`starcnet.models.registry`): its data file,
the named models and `register_model`.
"""

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

from starcnet import conf
from starcnet.legus import BANDS, CLASS_NAMES, PUBLISHED_BAND_OFFSETS
from starcnet.models import (
    ModelInfo,
    StarcNet,
    get_model_info,
    get_model_path,
    is_cached,
    list_models,
    load_model,
    register_model,
    registry,
    save_model,
    unregister_model,
)

from .helpers import METADATA, sha256_of
from .test_network import make_cutouts


def test_registry_entries():
    assert {'legus-2021', 'sim-small-v1', 'sim-small-v2', 'sim-small-v3',
            'sim-small-v3-ensemble', 'sim-small-v4', 'sim-small-v5'} <= set(list_models())
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
    for name in ('sim-small-v1', 'sim-small-v2', 'sim-small-v3', 'sim-small-v3-ensemble',
                 'sim-small-v4', 'sim-small-v5'):
        bundled = registry._REGISTRY[name]
        assert bundled.kind == 'bundled' and bundled.sha256 is None
        assert bundled.filename == f'{name}.safetensors'
    # the default is the newer one; the old weights stay loadable by name
    assert conf.default_model == 'sim-small-v5'
    assert load_model('sim-small-v1')[1].normalization.kind == 'asinh'
    for name in ('sim-small-v2', 'sim-small-v3', 'sim-small-v3-ensemble', 'sim-small-v5'):
        info = load_model(name)[1]
        assert info.normalization.kind == 'local' and info.temperature != 1.0
        assert info.ood['kind'] == 'combined'
    # the ensemble's first member is the default's network
    ensemble = load_model('sim-small-v3-ensemble')[0]
    single = load_model('sim-small-v3')[0]
    assert ensemble.n_members == 3
    for key, value in single.state_dict().items():
        assert torch.equal(ensemble.members[0].state_dict()[key], value)


@pytest.mark.parametrize('function', [get_model_info, get_model_path, is_cached,
                                      load_model])
def test_unknown_name(function):
    with pytest.raises(ValueError, match="did you mean 'legus-2021'") as excinfo:
        function('legus2021')
    assert ("Known models: 'legus-2021', 'sim-small-v3', 'sim-small-v3-ensemble', "
            "'sim-small-v5', 'sim-small-v4', 'sim-small-v2', 'sim-small-v1'") in str(excinfo.value)


def test_legus_2021_temperature():
    """
    legus-2021 carries the temperature fitted on its own published logits
    for three real LEGUS galaxies (scripts/calibrate_legus2021.py): on the
    NGC 1566 logits and human classes in the test data it lowers the
    negative log-likelihood of the human classes.
    """
    from astropy.table import Table
    from astropy.utils.data import get_pkg_data_filename

    info = get_model_info('legus-2021')
    assert 1.1 < info.temperature < 1.5
    assert 'NGC 1566' in info.training['temperature_fitted_on']
    logits = np.load(get_pkg_data_filename('../../tests/data/ngc1566_output_scores.npy'))
    human = np.asarray(Table.read(get_pkg_data_filename(
        '../../tests/data/ngc1566_human_class.ecsv'))['human_class'])
    z, y = logits[human > 0].astype(np.float64), human[human > 0] - 1

    def nll(t):
        s = z / t - (z / t).max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(y)), y])

    assert nll(info.temperature) < nll(1.0) - 1e-3


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
# The registry file

LEGUS_COMMIT = '53a30b9775604323502e317f8699d52cd33476c2'


def test_registry_file_entries():
    entries = registry.read_registry_file(registry.REGISTRY_FILE)
    assert list(entries) == ['legus-2021', 'sim-small-v3', 'sim-small-v3-ensemble',
                             'sim-small-v5', 'sim-small-v4', 'sim-small-v2', 'sim-small-v1']
    assert list(registry._BUILTIN) == list(entries)
    for name, entry in entries.items():
        assert registry._REGISTRY[name] == entry
    legus = entries['legus-2021']
    assert legus.sha256 == ('5fb81eef6f103af9bd386ec888f043e0494a2f6b'
                            '35f2588193eb222e0cb26127')
    assert legus.size == 61_077_488
    assert legus.url == (
        f'https://github.com/gperezs/StarcNet/raw/{LEGUS_COMMIT}/model/starcnet.pth',
        f'https://raw.githubusercontent.com/gperezs/StarcNet/{LEGUS_COMMIT}/model/starcnet.pth')
    assert legus.format == 'published' and legus.kind == 'remote'
    assert legus.config == {'width': 128, 'n_bands': 5, 'n_classes': 4, 'size': 32,
                            'groups': 8, 'dropout': 0.5}
    # the published facts, as starcnet.legus writes them
    assert legus.bands == BANDS
    assert legus.normalization.offset == PUBLISHED_BAND_OFFSETS
    assert legus.normalization.scale == (1.0,) * 5
    assert legus.classes == CLASS_NAMES
    assert legus.reference.endswith('2021ApJ...907..100P')
    for name in ('sim-small-v1', 'sim-small-v2', 'sim-small-v3', 'sim-small-v3-ensemble'):
        assert entries[name].kind == 'bundled' and entries[name].config is None


def test_registry_file_location():
    # Beside the module, where pyproject's package-data installs it.
    from astropy.utils.data import get_pkg_data_path
    path = get_pkg_data_path('registry.json', package='starcnet.models')
    assert os.path.samefile(path, registry.REGISTRY_FILE)


@pytest.mark.parametrize('content, match', [
    ('{"models": []', 'not valid JSON'),
    ('{"format": "other", "format_version": 1, "models": []}', 'starcnet-registry'),
    ('{"format": "starcnet-registry", "format_version": 2, "models": []}', 'format_version'),
    ('{"format": "starcnet-registry", "format_version": 1, "models": [1]}', 'JSON object'),
    ('{"format": "starcnet-registry", "format_version": 1, "models": '
     '[{"name": "a", "description": "", "kind": "remote", "url": "http://x", '
     '"colour": "red"}]}', r"model 0 \('a'\): unknown fields \['colour'\]"),
    ('{"format": "starcnet-registry", "format_version": 1, "models": '
     '[{"name": "a", "description": "", "kind": "remote"}]}', r"model 0 \('a'\).*URL"),
    ('{"format": "starcnet-registry", "format_version": 1, "models": '
     '[{"name": "a", "description": "", "kind": "remote", "url": "http://x"}, '
     '{"name": "a", "description": "", "kind": "remote", "url": "http://y"}]}',
     "'a' appears twice"),
])
def test_registry_file_errors(tmp_path, content, match):
    path = tmp_path / 'registry.json'
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as excinfo:
        registry.read_registry_file(path)
    assert str(path) in str(excinfo.value)


# ---------------------------------------------------------------------------
# register_model

@pytest.fixture
def saved(tmp_path):
    """A small model saved with save_model: (path, module)."""
    module = StarcNet(width=8).eval()
    path = save_model(module, tmp_path / 'mine.safetensors', METADATA)
    return path, module


def test_register_local_file(fresh_registry, saved):
    path, module = saved
    info = register_model(path)
    assert info.name == 'test-model'  # the name in the file's metadata
    assert info.kind == 'file' and info.filename == os.path.abspath(path)
    assert info.sha256 == sha256_of(path) and info.size == os.path.getsize(path)
    assert list_models()[-1] == 'test-model'
    assert get_model_info('test-model') == info
    assert is_cached('test-model')
    assert get_model_path('test-model') == os.path.abspath(path)
    network, loaded = load_model('test-model')
    assert loaded == info
    x = make_cutouts(n=3)
    with torch.no_grad():
        torch.testing.assert_close(network(x), module(x), atol=0, rtol=0)
    # a path identical to the registered file gets its entry
    assert load_model(path)[1].name == 'test-model'
    unregister_model('test-model')
    assert 'test-model' not in list_models()
    with pytest.raises(ValueError, match='not a known model name'):
        load_model('test-model')


def test_classifier_by_registered_name(fresh_registry, saved):
    from starcnet import StarClusterClassifier

    path, module = saved
    register_model(path, name='my-model', description='mine')
    clf = StarClusterClassifier('my-model')
    assert clf.model_name == 'my-model' and clf.model_info.description == 'mine'
    assert clf.bands == tuple(METADATA['bands'])
    cutouts = make_cutouts(n=3).numpy()
    expected = StarClusterClassifier(path).predict_proba(cutouts)
    np.testing.assert_array_equal(clf.predict_proba(cutouts), expected)


def test_register_published_file(fresh_registry, weights):
    path, _, sha = weights
    info = register_model(path, name='my-published', sha256=sha.upper())
    assert info.kind == 'file' and info.format == 'published'
    assert info.config['width'] == 32 and info.sha256 == sha
    legus = get_model_info('legus-2021')
    assert info.bands == legus.bands and info.normalization == legus.normalization
    assert 'GPL' in info.license
    assert load_model('my-published')[1] == info


def test_register_refuses_names_like_paths(fresh_registry, saved, tmp_path):
    # a name is looked up before a path of the same string: one that looks
    # like a path would hide the file
    path, _ = saved
    for name in ('../x', 'a/b', 'a b', '', '.hidden', 'mine.safetensors', 'w.PTH',
                 'x' * 101, 3):
        with pytest.raises(ValueError, match='is not allowed: give name='):
            register_model(path, name=name)
    assert 'a/b' not in list_models()
    assert register_model(path, name='my-weights_1.0+b').name == 'my-weights_1.0+b'
    assert load_model('my-weights_1.0+b')[1].name == 'my-weights_1.0+b'


def test_register_conflicts(fresh_registry, saved, tmp_path):
    path, _ = saved
    register_model(path, name='mine')
    with pytest.raises(ValueError, match="'mine' is already registered.*overwrite=True"):
        register_model(path, name='mine')
    other = save_model(StarcNet(width=16), tmp_path / 'other.safetensors', METADATA)
    replaced = register_model(other, name='mine', overwrite=True)
    assert load_model('mine')[1] == replaced
    assert replaced.config['width'] == 16
    for name in ('legus-2021', 'sim-small-v2'):
        with pytest.raises(ValueError, match='model of starcnet and cannot be replaced'):
            register_model(path, name=name, overwrite=True)
        with pytest.raises(ValueError, match='cannot be unregistered'):
            unregister_model(name)
    assert get_model_info('legus-2021') == registry._BUILTIN['legus-2021']
    with pytest.raises(ValueError, match='not a known model name'):
        unregister_model('nobody')


def test_register_bad_files(fresh_registry, saved, tmp_path):
    path, _ = saved
    before = list_models()
    with pytest.raises(FileNotFoundError, match='no such weights file.*missing.safetensors'):
        register_model(tmp_path / 'missing.safetensors')
    with pytest.raises(ValueError, match=f'has sha256 {sha256_of(path)}, not the {"0" * 64}'):
        register_model(path, sha256='0' * 64)
    with pytest.raises(ValueError, match='64 hexadecimal'):
        register_model(path, sha256='abc')
    junk = tmp_path / 'junk.bin'
    junk.write_bytes(b'not weights')
    with pytest.raises(ValueError, match='not a weights file starcnet can read'):
        register_model(junk)
    # weights that do not fit the network of their metadata
    from safetensors.torch import save_file
    state = StarcNet(width=8).state_dict()
    del state['head.bias']
    meta = ModelInfo.from_metadata(
        {**METADATA, 'format': 'starcnet-weights', 'format_version': 1,
         'config': {'width': 8}, 'classes': {'1': 'a', '2': 'b', '3': 'c', '4': 'd'}},
        filename='x').to_metadata()
    bad = tmp_path / 'bad.safetensors'
    save_file(state, bad, metadata={'starcnet': json.dumps(meta)})
    with pytest.raises(ValueError, match='missing keys: head.bias'):
        register_model(bad)
    with pytest.raises(TypeError, match='path, a URL or a ModelInfo'):
        register_model(42)
    with pytest.raises(ValueError, match='are for a model given by its URL'):
        register_model(path, mirrors=['https://example.org/a.pth'])
    assert list_models() == before


def test_registered_file_changed_or_gone(fresh_registry, saved):
    path, _ = saved
    register_model(path, name='mine')
    save_model(StarcNet(width=16), path, METADATA, overwrite=True)
    with pytest.raises(ValueError, match='changed since it was registered'):
        load_model('mine')
    os.remove(path)
    assert not is_cached('mine')
    with pytest.raises(FileNotFoundError, match='no longer exists'):
        load_model('mine')


def test_register_remote(fresh_registry, temp_cache, weights, server):
    from starcnet import StarClusterClassifier

    _, state, sha = weights
    info = register_model(server.url('starcnet.pth'), name='my-remote', sha256=sha)
    assert info.kind == 'remote' and info.format == 'published'  # from .pth
    assert info.url == (server.url('starcnet.pth'),) and info.config is None
    assert not is_cached('my-remote')
    _, loaded = load_model('my-remote')
    assert is_cached('my-remote')
    assert loaded.name == 'my-remote' and loaded.sha256 == sha
    assert loaded.config['width'] == 32
    assert loaded.bands == get_model_info('legus-2021').bands
    server.stop()  # offline from now on: read from the cache
    clf = StarClusterClassifier('my-remote')
    assert clf.model_info.sha256 == sha
    probabilities = clf.predict_proba(make_cutouts(n=2).numpy())
    assert probabilities.shape == (2, 4)


def test_register_remote_mirror_and_bad_sha256(fresh_registry, temp_cache, weights,
                                               server):
    sha = weights[2]
    register_model(server.url('missing.pth'), name='mirrored', sha256=sha,
                   mirrors=[server.url('starcnet.pth')])
    assert sha256_of(get_model_path('mirrored')) == sha
    register_model(server.url('starcnet.pth'), name='wrong', sha256='1' * 64)
    with pytest.raises(ValueError, match=f'sha256 {sha}, expected {"1" * 64}'):
        load_model('wrong')
    # a safetensors model served remotely gets its metadata from the file
    directory = weights[0].parent
    save_model(StarcNet(width=8), directory / 'net.safetensors', METADATA)
    info = register_model(server.url('net.safetensors'), name='remote-st',
                          sha256=sha256_of(directory / 'net.safetensors'))
    assert info.format == 'safetensors'
    loaded = load_model('remote-st')[1]
    assert loaded.name == 'remote-st' and loaded.normalization.kind == 'asinh'


def test_register_remote_errors(fresh_registry):
    url = 'https://example.org/weights.safetensors'
    with pytest.raises(ValueError, match='needs sha256='):
        register_model(url, name='x')
    with pytest.raises(ValueError, match='needs name='):
        register_model(url, sha256='1' * 64)
    with pytest.raises(ValueError, match='64 hexadecimal'):
        register_model(url, name='x', sha256='xyz')
    with pytest.raises(ValueError, match='mirrors must be http'):
        register_model(url, name='x', sha256='1' * 64, mirrors=['ftp://m'])
    # nothing is fetched at registration
    info = register_model(url, name='x', sha256='1' * 64)
    assert info.format == 'safetensors' and not is_cached('x')


def test_register_model_info(fresh_registry, saved):
    path, _ = saved
    remote = ModelInfo(name='info-remote', description='d', kind='remote',
                       url='https://example.org/a.pth', format='published')
    with pytest.raises(ValueError, match='needs its sha256'):
        register_model(remote)
    assert register_model(remote, sha256='2' * 64).sha256 == '2' * 64
    bundled = ModelInfo(name='b', description='', kind='bundled', filename='b.safetensors')
    with pytest.raises(ValueError, match='kind "remote" or "file"'):
        register_model(bundled)
    local = ModelInfo(name='info-file', description='from a ModelInfo', kind='file',
                      filename=str(path), reference='https://example.org')
    info = register_model(local)
    assert info.name == 'info-file' and info.reference == 'https://example.org'
    assert info.description == 'from a ModelInfo'  # the entry's, not the file's
    assert info.citation == 'nobody 2026'  # the file's: the entry has none
    assert info.sha256 == sha256_of(path) and info.config['width'] == 8
    wrong = dataclasses.replace(local, name='wrong-format', format='published')
    with pytest.raises(ValueError, match='safetensors file but the ModelInfo says published'):
        register_model(wrong)
