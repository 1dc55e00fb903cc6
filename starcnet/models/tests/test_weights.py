# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Tests of weights files (`starcnet.models.weights`) and of loading them by
path (`starcnet.models.load_model`).
"""

import json
import os

import numpy as np
import pytest
import torch

from starcnet.legus import CLASS_NAMES
from starcnet.models import StarcNet, get_model_info, load_model, read_weights, save_model

from .helpers import METADATA, closed_port_url, register, sha256_of
from .test_network import make_cutouts


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


def test_torch_save_of_our_state_dict_gets_a_hint(tmp_path):
    path = tmp_path / 'ours.pt'
    torch.save(StarcNet(width=8).state_dict(), path)
    with pytest.raises(ValueError, match='save_model'):
        load_model(path)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        load_model(tmp_path / 'nothing.pth')
