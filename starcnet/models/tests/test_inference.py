# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The inference engine (`starcnet.models.Predictor`): device-sized
batches, precision, compile, normalisation on the device, temperature,
missing bands; the CUDA path logic run on the CPU.
"""

import numpy as np
import pytest
import torch
from astropy.io import fits

from starcnet import MultiBandImage, StarClusterClassifier
from starcnet.conftest import make_test_scene
from starcnet.cutouts import normalize
from starcnet.models import inference
from starcnet.models.inference import Predictor, _autocast, _network_batch_size
from starcnet.models.registry import load_model


@pytest.fixture
def big_scene(tmp_path):
    bands, sources = make_test_scene(shape=(600, 300), n=40, seed=3)
    paths = {}
    for band, data in bands.items():
        paths[band] = tmp_path / f'{band}.fits'
        fits.PrimaryHDU(data, header=fits.Header({'BUNIT': 'ELECTRONS/S'})).writeto(
            paths[band])
    return paths, bands, sources


def test_network_batch_size():
    cpu, cuda = torch.device('cpu'), torch.device('cuda')
    # one activation map of a CPU batch within 16 MB: 32 at width 128
    assert _network_batch_size(cpu, 256, 128) == 32
    assert _network_batch_size(cpu, 256, 16) == 64
    assert _network_batch_size(cpu, 16, 128) == 16
    assert _network_batch_size(cpu, 256, 8192) == 1
    gib = 1 << 30
    assert _network_batch_size(cuda, 256, 128, free_bytes=70 * gib) == 3840
    assert _network_batch_size(cuda, 256, 128, free_bytes=160 * gib) == 8192
    assert _network_batch_size(cuda, 256, 128, free_bytes=gib // 2) == 256


def test_autocast_precision_on_cpu(tiny_model_path, scene):
    bands, sources = scene
    ref = StarClusterClassifier(tiny_model_path, device='cpu')(bands, sources)
    clf = StarClusterClassifier(tiny_model_path, device='cpu', precision='bfloat16')
    with _autocast(clf.device, 'bfloat16'):
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
    low = clf(bands, sources)
    assert np.abs(low['prob_class1'] - ref['prob_class1']).max() < 0.05
    with pytest.raises(ValueError, match='precision must be one of'):
        StarClusterClassifier(tiny_model_path, device='cpu', precision='int4')


def test_compile_pads_to_one_batch_shape(tiny_model_path, scene, monkeypatch):
    shapes = []

    def fake_compile(module, **kwargs):
        assert kwargs['dynamic'] is False

        def run(tensor):
            shapes.append(tuple(tensor.shape))
            return module(tensor)
        return run

    monkeypatch.setattr(torch, 'compile', fake_compile)
    bands, sources = scene
    ref = StarClusterClassifier(tiny_model_path, device='cpu')(bands, sources)
    clf = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=5, compile=True)
    got = clf(bands, sources)
    assert set(shapes) == {(5, 5, 32, 32)}
    assert np.abs(got['prob_class2'] - ref['prob_class2']).max() <= 1e-5


def test_predict_logits_normalises_like_numpy(tiny_model_path):
    # the network input is normalised in torch on the device; the same
    # as `normalize` in numpy, also for read-only input
    clf = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=4)
    rng = np.random.default_rng(2)
    cutouts = rng.normal(5.0, 3.0, size=(10, 5, 32, 32)).astype(np.float32)
    cutouts.flags.writeable = False
    with torch.inference_mode():
        net = clf.network.to(memory_format=torch.contiguous_format)
        ref = net(torch.from_numpy(normalize(cutouts, clf.model_info.normalization))).numpy()
    np.testing.assert_allclose(clf.predict_logits(cutouts), ref, atol=1e-5)


def test_gpu_path_logic_on_cpu(tiny_model_path, big_scene, monkeypatch):
    # The CUDA branch (device-sized batches, asynchronous copies, logits
    # kept on the device until the end) run on the CPU: same results.
    paths, bands, sources = big_scene
    ref = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=7)(bands, sources)
    copies = []

    def to_device(tensor, device):
        copies.append(len(tensor))
        return tensor.clone()

    monkeypatch.setattr(inference, '_asynchronous', lambda device: True)
    monkeypatch.setattr(inference, '_to_device', to_device)
    monkeypatch.setattr(inference, '_network_batch_size',
                        lambda device, batch_size, width, free_bytes=None: 6)
    clf = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=7)
    got = clf(MultiBandImage.read(paths), sources)
    n_classified = int(np.count_nonzero(~got['cluster_class'].mask))
    assert sum(copies) == n_classified and max(copies) <= 6
    for name in ('prob_class1', 'prob_class4', 'cluster_class'):
        np.testing.assert_allclose(got[name], ref[name], atol=1e-6)
    np.testing.assert_array_equal(got['cluster_class'].mask, ref['cluster_class'].mask)


def test_predictor_temperature_and_missing(tiny_model_path, tmp_path):
    from starcnet.models.registry import read_weights, save_model

    network, info = load_model(tiny_model_path)
    rng = np.random.default_rng(3)
    cutouts = rng.normal(0.5, 0.2, size=(9, 5, 32, 32)).astype(np.float32)
    raw = Predictor(network, info.normalization, batch_size=4).logits(cutouts)
    hot = Predictor(network, info.normalization, temperature=2.5, batch_size=4)
    np.testing.assert_allclose(hot.logits(cutouts), raw / 2.5, rtol=1e-6)
    assert 'temperature=2.5' in repr(hot)
    with pytest.raises(ValueError, match='temperature'):
        Predictor(network, info.normalization, temperature=0)
    with pytest.raises(ValueError, match='missing must have shape'):
        hot.logits(cutouts, missing=np.zeros((9, 4), bool))
    # a model stored with a temperature: the classifier's logits are calibrated
    _, meta, _ = read_weights(tiny_model_path)
    path = save_model(network, tmp_path / 'hot.safetensors',
                      dict(meta, temperature=2.5, name='hot'))
    clf = StarClusterClassifier(path, device='cpu')
    assert clf.temperature == 2.5 and clf.model_info.temperature == 2.5
    np.testing.assert_allclose(clf.predict_logits(cutouts), raw / 2.5, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(cutouts).sum(1), 1, rtol=1e-6)
    # from_model reads the temperature; an explicit one overrides it
    assert Predictor.from_model(path).temperature == 2.5
    assert Predictor.from_model(path, temperature=1.0).temperature == 1.0


def test_missing_bands_on_the_gpu_path(tiny_model_path, monkeypatch):
    # missing flags travel with their batch through padding and copies
    network, info = load_model(tiny_model_path)
    rng = np.random.default_rng(4)
    cutouts = rng.normal(0.5, 0.2, size=(11, 5, 32, 32)).astype(np.float32)
    missing = rng.random((11, 5)) < 0.2
    ref = Predictor(network, info.normalization, batch_size=3).logits(cutouts, missing)
    monkeypatch.setattr(inference, '_asynchronous', lambda device: True)
    monkeypatch.setattr(inference, '_to_device', lambda tensor, device: tensor.clone())
    monkeypatch.setattr(torch, 'compile', lambda module, **kwargs: module)
    got = Predictor(network, info.normalization, batch_size=4,
                    compile=True).logits(cutouts, missing)
    np.testing.assert_allclose(got, ref, atol=1e-5)
