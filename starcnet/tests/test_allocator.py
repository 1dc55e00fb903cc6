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
RESTORED = [('mallopt', _allocator.M_TRIM_THRESHOLD, 64 * 1024 ** 2),
            ('mallopt', _allocator.M_MMAP_THRESHOLD, 32 * 1024 ** 2),
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
    # as the network does: several 16 MB buffers alive at once, then freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        buffers = [torch.empty(4 * 1024 ** 2).fill_(1.0) for _ in range(8)]
        del buffers
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(_allocator._glibc() is None or _allocator._user_tuned(),
                    reason='needs glibc with its default malloc settings')
def test_freed_buffers_are_reused_without_page_faults():
    # Tuned, 128 MB of freed 16 MB buffers stay in the heap and are
    # reused.  After the block the trim threshold is 64 MB again, so the
    # heap is trimmed and the same buffers fault in again: 4096 faults of
    # 4 kB pages per buffer, fewer where the kernel backs them with 2 MB
    # transparent huge pages, none if something allocated meanwhile sits
    # above the buffers in the heap.  (Untuned glibc before any run is a
    # worse reference: whether its adaptive thresholds trim the heap
    # depends even more on what the process has allocated before.)
    with large_cpu_buffers(True):
        _churn_faults()   # the first buffers fault in once
        tuned = _churn_faults()
    after = _churn_faults()
    if after < 40 * 64:
        pytest.skip(f'only {after} page faults with the settings left afterwards '
                    '(huge pages, or a live block above the buffers kept the heap)')
    assert tuned * 10 < after


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
