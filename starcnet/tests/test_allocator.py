# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The glibc allocator settings used while the network runs on a CPU.
"""

import resource
import threading

import numpy as np
import pytest
import torch

from starcnet import StarClusterClassifier, conf
from starcnet.utils import _allocator
from starcnet.utils._allocator import large_cpu_buffers


class FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append(('mallopt', param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(('malloc_trim', pad))
        return 1


@pytest.fixture
def fake_libc(monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(_allocator, '_libc', libc)
    for name in _allocator._USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv('GLIBC_TUNABLES', raising=False)
    return libc


TUNED = [('mallopt', _allocator.M_MMAP_THRESHOLD, _allocator.MMAP_THRESHOLD),
         ('mallopt', _allocator.M_TRIM_THRESHOLD, _allocator.TRIM_THRESHOLD)]
RESTORED = [('mallopt', _allocator.M_TRIM_THRESHOLD, 128 * 1024),
            ('mallopt', _allocator.M_MMAP_THRESHOLD, 128 * 1024),
            ('malloc_trim', 0)]


def test_set_and_restored_once_when_nested(fake_libc):
    with large_cpu_buffers(True) as tuned:
        assert tuned and _allocator.active()
        with large_cpu_buffers(True):
            assert fake_libc.calls == TUNED
        assert fake_libc.calls == TUNED   # the inner block does not restore
    assert fake_libc.calls == TUNED + RESTORED
    assert not _allocator.active()


def test_restored_after_an_error(fake_libc):
    with pytest.raises(RuntimeError), large_cpu_buffers(True):
        raise RuntimeError('network failed')
    assert fake_libc.calls == TUNED + RESTORED


def test_threads_share_one_setting(fake_libc):
    inside = threading.Barrier(3)

    def work():
        with large_cpu_buffers(True):
            inside.wait()

    threads = [threading.Thread(target=work) for _ in range(2)]
    with large_cpu_buffers(True):
        for thread in threads:
            thread.start()
        inside.wait()
    for thread in threads:
        thread.join()
    assert fake_libc.calls == TUNED + RESTORED


@pytest.mark.parametrize('variable, value', [
    ('MALLOC_TRIM_THRESHOLD_', '1000000'),
    ('GLIBC_TUNABLES', 'glibc.malloc.mmap_threshold=65536')])
def test_user_settings_are_left_alone(fake_libc, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with large_cpu_buffers(True) as tuned:
        assert not tuned
    assert fake_libc.calls == []


def test_conf_switches_it_off(fake_libc):
    with conf.set_temp('tune_malloc', False), large_cpu_buffers() as tuned:
        assert not tuned
    with large_cpu_buffers() as tuned:
        assert tuned
    assert fake_libc.calls == TUNED + RESTORED


def _churn_faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        buffer = torch.empty(4 * 1024 ** 2).fill_(1.0)   # 16 MB
        del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(_allocator._glibc() is None or _allocator._user_tuned(),
                    reason='needs glibc with its default malloc settings')
def test_freed_buffers_are_reused_without_page_faults():
    plain = _churn_faults()
    with large_cpu_buffers(True):
        _churn_faults()   # the first buffer may still fault in
        tuned = _churn_faults()
    # A buffer mapped anew faults in 4096 pages of 4 kB (fewer where the
    # kernel backs it with 2 MB transparent huge pages).
    if plain < 10 * 64:
        pytest.skip(f'only {plain} page faults without tuning (huge pages)')
    assert tuned * 10 < plain


def test_classifier_runs_the_network_with_it(tiny_model_path, scene, monkeypatch):
    bands, sources = scene
    seen = []
    clf = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=8)
    clf.network.register_forward_pre_hook(lambda *args: seen.append(_allocator.active()))
    with conf.set_temp('tune_malloc', False):
        plain = clf(bands, sources)
    assert seen and not any(seen)
    seen.clear()
    tuned = clf(bands, sources)
    if _allocator._glibc() is not None and not _allocator._user_tuned():
        assert seen and all(seen)
    assert not _allocator.active()
    np.testing.assert_array_equal(tuned['prob_class1'], plain['prob_class1'])
    np.testing.assert_array_equal(tuned['cluster_class'], plain['cluster_class'])
