# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Regression tests of hostile or careless weights files (issue 13): format
detection, files that ask for huge networks, files edited in place,
metadata that cannot be used, quantised weights and files that claim the
name of another model.
"""

import functools
import json
import os
import time

import pytest
import torch
from safetensors.torch import save_file

from starcnet.exceptions import StarcnetWarning
from starcnet.legus import CLASS_NAMES
from starcnet.models import (
    ModelInfo,
    StarcNet,
    get_model_path,
    import_model_file,
    is_cached,
    load_model,
    network,
    read_weights,
    register_model,
    registry,
    save_model,
)

from .helpers import METADATA, closed_port_url, register, sha256_of

#: Complete ``'starcnet'`` metadata of a width-8 network, to write with
#: safetensors directly (bypassing the checks of save_model).
FILE_META = {**METADATA, 'format': 'starcnet-weights', 'format_version': 1,
             'config': {'width': 8, 'n_bands': 5, 'n_classes': 4, 'size': 32,
                        'groups': 2, 'dropout': 0.5},
             'classes': {str(k): v for k, v in CLASS_NAMES.items()}}


def write_raw(path, state_dict, **changes):
    """A safetensors file with FILE_META changed by ``changes``."""
    save_file(state_dict, path, metadata={'starcnet': json.dumps({**FILE_META, **changes})})
    return path


# -- item 1: safetensors whose header length looks like a pickle or zip ----

def test_every_saved_model_reloads(tmp_path):
    # The safetensors header length is a multiple of 8, so descriptions of
    # 0, 8, ..., 256 characters give every value of its low byte: some
    # files start with 0x80 (the pickle signature), some with b'P' (of
    # b'PK', zip); 0..15 add every length in between.
    module = StarcNet(width=4).eval()
    expected = module.state_dict()
    first_bytes = set()
    for n in sorted(set(range(0, 264, 8)) | set(range(16))):
        path = save_model(module, tmp_path / f'm{n}.safetensors',
                          {**METADATA, 'description': 'd' * n})
        with open(path, 'rb') as handle:
            first_bytes.add(handle.read(1))
        loaded, info = load_model(path)
        assert info.format == 'safetensors' and info.description == 'd' * n
        for key, value in loaded.state_dict().items():
            assert torch.equal(value, expected[key]), key
        os.remove(path)
    assert {b'\x80', b'P'} <= first_bytes


def test_header_length_low_byte_0x80(tmp_path):
    # The smallest case: a header whose length is 0x80 + 256 k.
    module = StarcNet(width=4)
    # the header length is a multiple of 8: steps of 8 reach every low byte
    for n in range(0, 264, 8):
        path = save_model(module, tmp_path / 'm.safetensors',
                          {**METADATA, 'description': 'e' * n}, overwrite=True)
        with open(path, 'rb') as handle:
            if handle.read(1) == b'\x80':
                break
    else:  # pragma: no cover
        pytest.fail('no description length gave a 0x80 header length')
    assert read_weights(path)[2] == 'safetensors'
    assert load_model(path)[1].name == 'test-model'


def test_save_trained_output_reloads(tmp_path):
    # The `starcnet train` path: save_trained writes through save_model.
    from starcnet.training.results import TrainingResult, save_trained

    module = StarcNet(width=4).eval()
    meta = {key: FILE_META[key] for key in ('bands', 'normalization', 'classes')}
    meta.update(config=module.config, temperature=1.0,
                training={'epochs_run': 1, 'base_model': None})
    seen = set()
    for n in range(40):
        result = TrainingResult(module=module, metadata=meta, history={})
        path = save_trained(result, tmp_path / f't{n}.safetensors',
                            description='fine-tuned ' + 'x' * n)
        with open(path, 'rb') as handle:
            seen.add(handle.read(1))
        assert load_model(path)[1].description == 'fine-tuned ' + 'x' * n
    assert b'\x80' in seen


def test_truncated_safetensors_with_pickle_like_length(tmp_path):
    module = StarcNet(width=4)
    for n in range(0, 264, 8):
        path = save_model(module, tmp_path / 'm.safetensors',
                          {**METADATA, 'description': 'e' * n}, overwrite=True)
        with open(path, 'rb') as handle:
            content = handle.read()
        if content[:1] == b'\x80':
            break
    cut = tmp_path / 'cut.safetensors'
    cut.write_bytes(content[:100])
    with pytest.raises(ValueError, match='truncated'):
        load_model(cut)


# -- item 4: a tiny file must not allocate a huge network ------------------

@pytest.fixture
def no_big_networks(monkeypatch):
    """Fail if a StarcNet wider than 64 is built other than on 'meta'."""
    built = []
    original = network.StarcNet.__init__

    @functools.wraps(original)  # keeps the signature schema.check_config reads
    def init(self, width=128, *args, **kwargs):
        device = torch.empty(0).device.type
        built.append((width, device))
        if width > 64 and device != 'meta':
            msg = f'a StarcNet of width {width} was built on {device}'
            raise AssertionError(msg)
        original(self, width, *args, **kwargs)

    monkeypatch.setattr(network.StarcNet, '__init__', init)
    return built


def test_declared_width_out_of_bounds(tmp_path, no_big_networks):
    path = write_raw(tmp_path / 'wide.safetensors', StarcNet(width=8).state_dict(),
                     config={**FILE_META['config'], 'width': 2048, 'groups': 8})
    assert os.path.getsize(path) < 1_000_000
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r'width must be an integer from 1 to 1024, got 2048'):
        load_model(path)
    assert time.perf_counter() - start < 5
    assert not [width for width, _ in no_big_networks if width == 2048]


def test_shapes_checked_before_allocation(tmp_path, no_big_networks):
    # Width 1024 is allowed (about 1 GB of weights), but a file of width-8
    # tensors declaring it is refused from the shapes alone.
    path = write_raw(tmp_path / 'liar.safetensors', StarcNet(width=8).state_dict(),
                     config={**FILE_META['config'], 'width': 1024, 'groups': 8})
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r'do not match StarcNet\(width=1024'):
        load_model(path)
    assert time.perf_counter() - start < 5
    assert (1024, 'meta') in no_big_networks
    # and a file that fits is built without a second copy of the network
    path = write_raw(tmp_path / 'ok.safetensors', StarcNet(width=8).state_dict())
    no_big_networks.clear()
    model, _ = load_model(path)
    assert no_big_networks == [(8, 'meta')]
    assert all(p.device.type == 'cpu' and p.dtype == torch.float32 and p.requires_grad
               for p in model.parameters())


@pytest.mark.parametrize('change, match', [
    ({'n_bands': 100000}, 'n_bands must be an integer from 1 to 64'),
    ({'n_classes': 10**9}, 'n_classes must be an integer from 2 to 1000'),
    ({'size': 4096}, 'size must be 32'),
    ({'groups': 10**6}, 'groups must be an integer'),
    ({'width': 8.5}, 'width must be an integer'),
    ({'width': True}, 'width must be an integer'),
    ({'dropout': 'high'}, 'dropout must be a number'),
])
def test_config_values_bounded(tmp_path, change, match):
    path = write_raw(tmp_path / 'bad.safetensors', StarcNet(width=8).state_dict(),
                     config={**FILE_META['config'], **change})
    with pytest.raises(ValueError, match=match):
        load_model(path)
    with pytest.raises(ValueError, match=match):
        ModelInfo(name='x', description='', kind='remote', url='http://x',
                  config={**FILE_META['config'], **change})


# -- item 8: the sha256 is that of the bytes loaded -----------------------

def edit_in_place(path):
    """Change one byte of a file, keeping its size and mtime."""
    stat = os.stat(path)
    with open(path, 'rb') as handle:
        content = bytearray(handle.read())
    content[-1] ^= 0xFF
    with open(path, 'r+b') as handle:
        handle.write(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)


def test_cached_file_edited_in_place(monkeypatch, temp_cache, weights):
    path, _, sha = weights
    register(monkeypatch, url=(closed_port_url(),), sha256=sha)
    cached = import_model_file('test-remote', path)
    assert get_model_path('test-remote') == cached
    assert load_model('test-remote')[1].sha256 == sha
    edit_in_place(cached)
    edited = sha256_of(cached)
    with pytest.raises(ValueError, match=f'sha256 {edited}, expected {sha}'):
        load_model('test-remote')
    assert not is_cached('test-remote')  # removed from the cache


def test_registered_file_edited_in_place(fresh_registry, tmp_path):
    path = save_model(StarcNet(width=8), tmp_path / 'mine.safetensors', METADATA)
    register_model(path, name='mine')
    assert load_model('mine')[1].sha256 == sha256_of(path)
    assert get_model_path('mine') == os.path.abspath(path)
    edit_in_place(path)
    with pytest.raises(ValueError, match='changed since it was registered'):
        load_model('mine')
    with pytest.raises(ValueError, match='changed since it was registered'):
        get_model_path('mine')


def test_sha256_is_of_the_bytes_parsed(monkeypatch, tmp_path):
    # The file is read once: replacing it after the read changes neither
    # the weights loaded nor the sha256 reported.
    from starcnet.models import weights as weights_module

    path = save_model(StarcNet(width=8), tmp_path / 'a.safetensors', METADATA)
    other = save_model(StarcNet(width=8), tmp_path / 'b.safetensors', METADATA)
    original_sha = sha256_of(path)
    read_file = weights_module.read_file

    def read_then_replace(name):
        result = read_file(name)
        os.replace(other, name)
        return result

    monkeypatch.setattr('starcnet.models.loading.read_file', read_then_replace)
    expected = read_weights(path)[0]
    model, info = load_model(path)
    assert info.sha256 == original_sha != sha256_of(path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[key], atol=0, rtol=0)


# -- item 9: clear errors -------------------------------------------------

def test_zip_checkpoint_named_safetensors(tmp_path, weights):
    # The format comes from the content: a published checkpoint under a
    # .safetensors name loads as one (torch.load alone would hand the
    # name to the safetensors library: SafetensorError).
    path = tmp_path / 'starcnet.safetensors'
    path.write_bytes(weights[0].read_bytes())
    _, info = load_model(path)
    assert info.format == 'published' and info.config['width'] == 32
    # our own state_dict saved with torch.save under that name: a hint
    ours = tmp_path / 'ours.safetensors'
    torch.save(StarcNet(width=8).state_dict(), ours)
    with pytest.raises(ValueError, match='save_model'):
        load_model(ours)
    # any other zip under that name: what is supported
    junk = tmp_path / 'junk.safetensors'
    torch.save({'epoch': torch.tensor(3)}, junk)
    with pytest.raises(ValueError, match='junk.safetensors'):
        load_model(junk)


def test_duplicated_bands(tmp_path):
    state = StarcNet(width=8).state_dict()
    path = write_raw(tmp_path / 'dup.safetensors', state,
                     bands=['F275W', 'F336W', 'F336W', 'F555W', 'F814W'])
    with pytest.raises(ValueError, match='"bands" names F336W more than once'):
        load_model(path)
    with pytest.raises(ValueError, match='F336W more than once'):
        save_model(StarcNet(width=8), tmp_path / 'dup2.safetensors',
                   {**METADATA, 'bands': ['F275W', 'F336W', 'F336W', 'F555W', 'F814W']})
    with pytest.raises(ValueError, match='F275W more than once'):
        ModelInfo(name='x', description='', kind='remote', url='http://x',
                  bands=('F275W',) * 5)


@pytest.mark.parametrize('classes', [
    {'1': 1, '2': 'b', '3': 'c', '4': 'd'},
    {'1': None, '2': 'b', '3': 'c', '4': 'd'},
    {'1': ['a'], '2': 'b', '3': 'c', '4': 'd'},
    {'1': 'a', '2': 'a', '3': 'c', '4': 'd'},
])
def test_class_names_not_strings(tmp_path, classes):
    path = write_raw(tmp_path / 'classes.safetensors', StarcNet(width=8).state_dict(),
                     classes=classes)
    with pytest.raises(ValueError, match='"classes"'):
        load_model(path)
    with pytest.raises(ValueError, match='class'):
        ModelInfo(name='x', description='', kind='remote', url='http://x',
                  classes=classes)


def test_registered_model_info_with_bad_classes(fresh_registry, weights):
    with pytest.raises(ValueError, match='non-empty str'):
        register_model(ModelInfo(name='mine', description='', kind='file',
                                 filename=str(weights[0]), format='published',
                                 classes={1: 1, 2: 2, 3: 3, 4: 4}))
    assert 'mine' not in registry.list_models()


# -- item 11: silently accepted before ------------------------------------

@pytest.mark.parametrize('dtype', [torch.int8, torch.uint8, torch.int32, torch.bool])
def test_integer_weights_refused(tmp_path, dtype):
    state = {key: value.to(dtype) for key, value in StarcNet(width=8).state_dict().items()}
    path = write_raw(tmp_path / 'quantised.safetensors', state)
    with pytest.raises(ValueError, match=r'not floating point: .*\(' + str(dtype)[6:]):
        load_model(path)


def test_half_weights_become_float32(tmp_path):
    module = StarcNet(width=8)
    state = {key: value.half() for key, value in module.state_dict().items()}
    model, _ = load_model(write_raw(tmp_path / 'half.safetensors', state))
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_file_claiming_a_registered_name(tmp_path):
    from starcnet import StarClusterClassifier

    path = save_model(StarcNet(width=8), tmp_path / 'impostor.safetensors',
                      {**METADATA, 'name': 'legus-2021'})
    with pytest.warns(StarcnetWarning, match=r"says it is model 'legus-2021'.*"
                      r"reported as 'legus-2021 \(unverified\)'"):
        _, info = load_model(path)
    assert info.name == 'legus-2021 (unverified)' and info.sha256 == sha256_of(path)
    assert info.kind == 'file'
    with pytest.warns(StarcnetWarning, match='unverified'):
        clf = StarClusterClassifier(path)
    meta = clf._meta({})
    assert meta['model'] == 'legus-2021 (unverified)'
    assert meta['model_sha256'] == sha256_of(path)


def test_file_claiming_a_bundled_name(tmp_path):
    path = save_model(StarcNet(width=8), tmp_path / 'impostor.safetensors',
                      {**METADATA, 'name': 'sim-small-v2'})
    with pytest.warns(StarcnetWarning, match='sim-small-v2'):
        assert load_model(path)[1].name == 'sim-small-v2 (unverified)'
    # the bundled file itself, loaded by path, is what it says (no warning)
    bundled = registry._bundled_path(registry._REGISTRY['sim-small-v2'])
    assert load_model(bundled)[1].name == 'sim-small-v2'


def test_file_with_its_own_name_is_quiet(tmp_path):
    path = save_model(StarcNet(width=8), tmp_path / 'x.safetensors', METADATA)
    assert load_model(path)[1].name == 'test-model'  # no warning (filterwarnings=error)
