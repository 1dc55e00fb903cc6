# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the training helpers and the bundled model."""

import os

import numpy as np
import pytest
import torch
from astropy.utils.data import get_pkg_data_path

from starcnet.models.network import StarcNet
from starcnet.cutouts import normalize
from starcnet.training import class_weights, dihedral_augment, fit


def _dihedral(image):
    out = []
    for flipped in (image, image[..., ::-1]):
        for k in range(4):
            out.append(np.rot90(flipped, k, axes=(-2, -1)))
    return out


def test_dihedral_augment():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(64, 5, 8, 8)).astype(np.float32))
    original = x.clone()
    out = dihedral_augment(x, torch.Generator().manual_seed(1))
    assert torch.equal(x, original)          # input untouched
    assert out.shape == x.shape
    seen = set()
    for a, b in zip(x.numpy(), out.numpy()):
        # same set of pixel values, per band
        assert np.array_equal(np.sort(a.reshape(5, -1)), np.sort(b.reshape(5, -1)))
        # and exactly one of the 8 rotations/flips of the whole cutout
        matches = [k for k, d in enumerate(_dihedral(a)) if np.array_equal(d, b)]
        assert matches
        seen.add(matches[0])
    assert len(seen) == 8


def test_class_weights():
    w = class_weights([1, 1, 1, 2, 4, 4])
    assert w.dtype == np.float32
    assert w[2] == 0
    assert w[1] == pytest.approx(3 * w[0])
    assert w[3] == pytest.approx(1.5 * w[0])
    assert w[[0, 1, 3]].mean() == pytest.approx(1.0)


def _easy_data(n, seed):
    """Class 1: a bright central blob; class 4: noise only."""
    rng = np.random.default_rng(seed)
    labels = np.where(np.arange(n) % 2 == 0, 1, 4)
    x = rng.normal(0, 1, (n, 5, 32, 32)).astype(np.float32)
    yy, xx = np.mgrid[0:32, 0:32]
    blob = 8 * np.exp(-((xx - 15.5) ** 2 + (yy - 15.5) ** 2) / 4.0)
    x[labels == 1] += blob.astype(np.float32)
    return x, labels


def test_fit_learns():
    torch.set_num_threads(1)
    x, labels = _easy_data(192, 0)
    norm = {'kind': 'affine', 'offset': [0] * 5, 'scale': [1] * 5}
    result = fit(x, labels, width=8, normalization=norm, epochs=3, batch_size=16,
                 learning_rate=3e-3, weight_decay=1e-4, val_fraction=0.25, seed=1)
    module, history = result.module, result.history
    assert isinstance(module, StarcNet)
    assert not module.training
    assert module.config['width'] == 8
    assert next(module.parameters()).device == torch.device('cpu')
    assert history['n_train'] == 144 and history['n_val'] == 48
    assert len(history['train_loss']) == 3
    assert history['train_loss'][-1] < history['train_loss'][0]
    assert history['best_val_accuracy'] > 0.75
    assert history['best_epoch'] in (1, 2, 3)
    xt, lt = _easy_data(64, 99)
    with torch.no_grad():
        pred = module(torch.from_numpy(normalize(xt, norm))).argmax(1).numpy() + 1
    assert np.mean(pred == lt) > 0.75


def test_fit_reproducible():
    torch.set_num_threads(1)
    x, labels = _easy_data(48, 3)
    norm = {'kind': 'asinh', 'offset': [0] * 5, 'scale': [1] * 5}
    kwargs = dict(width=8, normalization=norm, epochs=1, batch_size=16,
                  learning_rate=1e-3, weight_decay=0.0, val_fraction=0.25, seed=5)
    a, b = fit(x, labels, **kwargs), fit(x, labels, **kwargs)
    assert a.history['train_loss'] == b.history['train_loss']
    for key, value in a.module.state_dict().items():
        assert torch.equal(value, b.module.state_dict()[key])
    other = fit(x, labels, **{**kwargs, 'seed': 6})
    assert other.history['train_loss'] != a.history['train_loss']


def test_fit_errors():
    norm = {'kind': 'affine', 'offset': [0] * 5, 'scale': [1] * 5}
    with pytest.raises(ValueError, match='classes 1-4'):
        fit(np.zeros((2, 5, 32, 32)), [0, 1], normalization=norm)
    with pytest.raises(ValueError, match='one label each'):
        fit(np.zeros((2, 5, 32, 32)), [1], normalization=norm)
    with pytest.raises(ValueError, match='val_fraction'):
        fit(np.zeros((2, 5, 32, 32)), [1, 2], normalization=norm, val_fraction=1.0)
    with pytest.raises(ValueError, match='needs cutouts and labels'):
        fit(np.zeros((2, 5, 32, 32)), normalization=norm)
    with pytest.raises(ValueError, match="device must be 'auto'"):
        fit(np.zeros((2, 5, 32, 32)), [1, 2], normalization=norm, device='gpu')


def test_train_model_is_gone():
    import starcnet.training as training

    assert not hasattr(training, 'train_model')
    assert 'train_model' not in training.__all__


BUNDLED = get_pkg_data_path('data', 'sim-small-v1.safetensors', package='starcnet')


@pytest.mark.skipif(not os.path.exists(BUNDLED),
                    reason='bundled model not built yet')
def test_bundled_model():
    from starcnet.models.registry import load_model
    from starcnet.simulation import BANDS, simulate_candidates

    module, info = load_model('sim-small-v1')
    assert isinstance(module, StarcNet)
    assert module.config['width'] == 16
    assert sum(p.numel() for p in module.parameters()) == 241588
    assert list(info.bands) == list(BANDS)
    assert info.normalization.kind == 'asinh'
    # better than chance on fresh simulated candidates
    x, labels = simulate_candidates(25, seed=123)
    with torch.no_grad():
        logits = module(torch.from_numpy(normalize(x, info.normalization)))
    pred = logits.argmax(1).numpy() + 1
    assert np.mean(pred == labels) > 0.4


def test_fit_groups_patience_freeze_and_save(tmp_path):
    from starcnet.models.registry import read_weights
    from starcnet.training import fit, save_trained

    torch.set_num_threads(1)
    x, labels = _easy_data(64, 7)
    groups = np.repeat(['a', 'b', 'c', 'd'], 16)
    norm = {'kind': 'affine', 'offset': [0] * 5, 'scale': [1] * 5}
    result = fit(x, labels, width=8, normalization=norm, epochs=3, batch_size=16,
                 val_fraction=0.25, groups=groups, patience=1, balance='sampling',
                 freeze=('small',), seed=2)
    val = np.asarray(result.history['val_index'])
    train = np.asarray(result.history['train_index'])
    assert not set(groups[val]) & set(groups[train])
    assert len(result.history['train_loss']) == result.history['epochs_run'] <= 3
    t = result.metadata['training']
    assert t['split'] == 'by group' and t['frozen'] == ['small']
    assert t['base_model'] is None and t['n_cutouts'] == 64
    path = save_trained(result, tmp_path / 'm.safetensors', name='test-model')
    _, meta, fmt = read_weights(path)
    assert fmt == 'safetensors' and meta['name'] == 'test-model'
    assert meta['training']['best_epoch'] == t['best_epoch']
    with pytest.raises(FileExistsError):
        save_trained(result, path)
    with pytest.raises(ValueError, match='cannot freeze'):
        fit(x, labels, width=8, normalization=norm, freeze=('nope',))
    with pytest.raises(ValueError, match='two groups'):
        fit(x, labels, width=8, normalization=norm, groups=['a'] * 64)


def test_cutouts_from_catalog_drops_rows():
    from astropy.table import Table
    from starcnet.training import cutouts_from_catalog

    rng = np.random.default_rng(0)
    images = {b: rng.normal(1, 0.1, (80, 80)).astype(np.float32)
              for b in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')}
    table = Table({'x': [40., 40., 40., 40., -50.], 'y': [40., 30., 50., 45., 40.],
                   'cls': np.ma.MaskedArray([1, 0, 5, 3, 2],
                                            mask=[False, False, False, True, False])})
    data = cutouts_from_catalog(images, table, class_column='cls')
    assert data.cutouts.shape == (1, 5, 32, 32)
    assert list(data.labels) == [1] and list(data.index) == [0]
    assert data.dropped == {'unlabelled': 2, 'invalid_class': 1, 'unclassifiable': 1}
    with pytest.raises(ValueError, match='no class column'):
        cutouts_from_catalog(images, table)


def test_fit_temperature_on_over_confident_logits():
    from starcnet.training import fit_temperature

    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 1.5, (4000, 4))
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(4, p=row) for row in p]) + 1
    logits = 3.0 * true_logits           # three times too confident

    def nll(z):
        z = z - z.max(1, keepdims=True)
        return np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(z)), labels - 1])

    t = fit_temperature(logits, labels)
    assert t > 1 and t == pytest.approx(3.0, rel=0.1)
    assert nll(logits / t) < nll(logits) - 0.1
    assert nll(logits / t) <= min(nll(logits / (t * 1.05)), nll(logits / (t / 1.05)))
    # calibrated logits stay near 1
    assert fit_temperature(true_logits, labels) == pytest.approx(1.0, rel=0.1)
    with pytest.raises(ValueError, match='classes 1..4'):
        fit_temperature(logits, labels - 1)
    with pytest.raises(ValueError, match='one label each'):
        fit_temperature(logits, labels[:-1])


def test_band_dropout_marks_one_band():
    from starcnet.training.augment import _band_dropout

    missing = _band_dropout(20000, 5, 0.15, torch.Generator().manual_seed(0))
    assert missing.shape == (20000, 5) and missing.dtype == torch.bool
    assert missing.sum(1).max() == 1
    assert missing.any(1).float().mean().item() == pytest.approx(0.15, abs=0.01)
    assert np.all(missing.float().mean(0).numpy() > 0.02)


def test_fit_fresh_data_local_band_dropout_temperature(tmp_path):
    from starcnet.models.registry import load_model
    from starcnet.training import fit, save_trained

    torch.set_num_threads(1)
    calls = []

    def train_data(epoch):
        calls.append(epoch)
        return _easy_data(32, 100 + epoch)

    val = _easy_data(32, 1)
    kwargs = dict(train_data=train_data, validation=val, width=8,
                  normalization={'kind': 'local', 'stretch': 2.0}, epochs=2,
                  batch_size=16, band_dropout=0.3, seed=5)
    state = torch.get_rng_state()
    result = fit(**kwargs)
    assert torch.equal(torch.get_rng_state(), state)   # global RNG untouched
    assert calls == [1, 2]
    t = result.metadata['training']
    assert t['split'] == 'given validation set' and t['band_dropout'] == 0.3
    assert result.history['n_val'] == 32 and result.history['val_index'] is None
    assert result.metadata['normalization'] == {'kind': 'local', 'stretch': 2.0,
                                                'radius': 12.0}
    temperature = result.metadata['temperature']
    assert temperature > 0 and temperature == result.history['temperature']
    assert t['val_nll']['after'] <= t['val_nll']['before'] + 1e-9
    # reproducible with a seed
    again = fit(**kwargs)
    for key, value in result.module.state_dict().items():
        assert torch.equal(value, again.module.state_dict()[key]), key
    # the temperature is saved with the model and used by the classifier
    path = save_trained(result, tmp_path / 'local.safetensors')
    _, info = load_model(path)
    assert info.temperature == pytest.approx(temperature)
    assert info.normalization.kind == 'local'
    with pytest.raises(ValueError, match='not both'):
        fit(*val, train_data=train_data)
    with pytest.raises(ValueError, match='band_dropout'):
        fit(*val, width=8, band_dropout=1.0)


def test_fit_validation_set_and_device(monkeypatch):
    import starcnet.training.loop as loop

    seen = []
    original = loop._base_model

    def spy(model, device):
        seen.append(device)
        return original(model, device)

    monkeypatch.setattr(loop, '_base_model', spy)
    x, labels = _easy_data(32, 3)
    result = fit(x, labels, model='sim-small-v1', validation=_easy_data(16, 4),
                 epochs=1, batch_size=16, device='cpu')
    assert seen == [torch.device('cpu')]
    assert result.history['n_train'] == 32 and result.history['n_val'] == 16
    assert 'initial_val_accuracy' in result.history


def test_data_module_does_not_import_torch():
    import subprocess
    import sys

    import starcnet

    code = ('import sys, starcnet.training.data, starcnet.training.results, '
            'starcnet.training; '
            'from starcnet.training import cutouts_from_catalog, class_weights, '
            'fit_temperature, save_trained, TrainingResult, LabelledCutouts; '
            'print("torch" in sys.modules)')
    # run where this starcnet is the one imported
    root = os.path.dirname(os.path.dirname(starcnet.__file__))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True, cwd=root)
    assert out.stdout.strip() == 'False', out.stderr
    # the torch-side names are there when asked for
    import starcnet.training as training
    assert callable(training.fit) and callable(training.dihedral_augment)
    assert 'fit' in dir(training)
    with pytest.raises(AttributeError, match='no attribute'):
        training.nothing_here  # noqa: B018


def test_fit_leaves_global_random_state_alone():
    torch.set_num_threads(1)
    x, labels = _easy_data(32, 8)
    norm = {'kind': 'affine', 'offset': [0] * 5, 'scale': [1] * 5}
    kwargs = dict(width=8, normalization=norm, epochs=1, batch_size=8,
                  val_fraction=0.25, balance='sampling', band_dropout=0.5, seed=4)
    torch.manual_seed(123)
    np.random.seed(321)
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()
    first = fit(x, labels, **kwargs)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]
    # and the caller's global state does not change the result
    torch.manual_seed(999)
    np.random.seed(999)
    second = fit(x, labels, **kwargs)
    assert first.history['train_loss'] == second.history['train_loss']
    for key, value in first.module.state_dict().items():
        assert torch.equal(value, second.module.state_dict()[key]), key


def test_augmentation_on_the_batch_device():
    from starcnet.training.augment import _band_dropout

    gen = torch.Generator().manual_seed(0)
    batch = torch.zeros((4, 5, 8, 8), device='meta')
    assert dihedral_augment(batch, gen).device.type == 'meta'
    missing = _band_dropout(4, 5, 0.5, gen, device='meta')
    assert missing.device.type == 'meta' and missing.shape == (4, 5)
    # one seed, one draw, whatever the device of the batch
    cpu = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    a = dihedral_augment(cpu, torch.Generator().manual_seed(3))
    b = dihedral_augment(cpu.clone(), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_training_epoch_runs_on_the_given_device():
    """
    Every tensor of a training step is on the device: on the meta device
    any tensor made on the CPU and mixed in raises a device error.
    """
    from starcnet.normalization import Normalization
    from starcnet.training.loop import _optimizer, _train_epoch

    x, labels = _easy_data(16, 2)
    module = StarcNet(width=4).to('meta')
    weights = torch.from_numpy(class_weights(labels)).to('meta')
    optimizer, scheduler = _optimizer(list(module.parameters()), learning_rate=1e-3,
                                      weight_decay=1e-4, epochs=1, steps_per_epoch=2)
    for kind in ({'kind': 'affine', 'offset': [0] * 5, 'scale': [1] * 5},
                 {'kind': 'asinh', 'offset': [0] * 5, 'scale': [1] * 5}):
        losses = _train_epoch(
            module, torch.from_numpy(x), torch.from_numpy(labels - 1),
            torch.randperm(16, generator=torch.Generator().manual_seed(0)),
            batch_size=8, normalization=Normalization.from_metadata(kind),
            loss_fn=torch.nn.CrossEntropyLoss(weight=weights), optimizer=optimizer,
            scheduler=scheduler, augment=True, band_dropout=0.5,
            generator=torch.Generator().manual_seed(0), device=torch.device('meta'))
        assert [size for _, size in losses] == [8, 8]
        assert all(loss.device.type == 'meta' for loss, _ in losses)
    assert all(p.device.type == 'meta' for p in module.parameters())
    # the check can fail: loss weights left on the CPU are caught
    with pytest.raises(RuntimeError, match='device'):
        _train_epoch(
            module, torch.from_numpy(x), torch.from_numpy(labels - 1), torch.arange(16),
            batch_size=8, normalization=Normalization.from_metadata(kind),
            loss_fn=torch.nn.CrossEntropyLoss(weight=weights.new_empty(4, device='cpu')),
            optimizer=optimizer, scheduler=scheduler, augment=False, band_dropout=0,
            generator=None, device=torch.device('meta'))


def test_fit_device_reaches_every_part(monkeypatch):
    import starcnet.models.inference as inference
    import starcnet.training.loop as loop

    seen = {}
    original_predictor = inference.Predictor
    original_base = loop._base_model

    class Spy(original_predictor):
        def __init__(self, network, normalization, **kwargs):
            seen['predictor'] = kwargs['device']
            seen['network'] = next(network.parameters()).device
            super().__init__(network, normalization, **kwargs)

    def base(model, device):
        seen['base'] = device
        return original_base(model, device)

    monkeypatch.setattr(inference, 'Predictor', Spy)
    monkeypatch.setattr(loop, '_base_model', base)
    x, labels = _easy_data(16, 5)
    result = fit(x, labels, model='sim-small-v1', epochs=1, batch_size=8,
                 val_fraction=0.25, device='auto')
    cpu = torch.device('cpu')
    assert seen == {'predictor': cpu, 'network': cpu, 'base': cpu}
    assert result.metadata['training']['device'] == 'cpu'
