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


def test_classifier_and_fit_leave_it_alone(tiny_model_path, scene, fake_libc):
    # the library does not opt in by itself; the caller's block does
    bands, sources = scene
    seen = []
    clf = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=8)
    clf.network.register_forward_pre_hook(lambda *args: seen.append(_allocator.active()))
    plain = clf(bands, sources)
    clf.predict_proba(np.ones((3, 5, 32, 32), dtype=np.float32))
    assert seen and not any(seen)
    assert fake_libc.calls == []
    seen.clear()
    with large_cpu_buffers() as tuned:
        assert tuned
        opted = clf(bands, sources)
    assert seen and all(seen)
    assert fake_libc.calls == TUNED + RESTORED
    np.testing.assert_array_equal(opted['prob_class1'], plain['prob_class1'])
    np.testing.assert_array_equal(opted['cluster_class'], plain['cluster_class'])


def test_cli_opts_in(fake_libc, monkeypatch):
    # the command line owns its process: every command runs tuned
    from starcnet import cli

    seen = []
    monkeypatch.setattr(cli, 'cmd_models', lambda args: seen.append(_allocator.active()))
    assert cli.main(['models', 'list']) == 0
    assert seen == [True]
    assert fake_libc.calls == TUNED + RESTORED
    with conf.set_temp('tune_malloc', False):
        assert cli.main(['models', 'list']) == 0
    assert seen == [True, False]


# glibc cannot say what its thresholds are; they are read back through
# what malloc does, in a fresh process.  A block just under 32 MB is
# above glibc's initial (adaptive) mmap threshold and served by mmap;
# freeing it raises the adaptive threshold to its size, so a second one
# comes from the heap.  Once the thresholds were set (mallopt) both come
# from the heap: nothing is mmapped below the 32 MB set.
_PROBE = """
import ctypes, json, sys

libc = ctypes.CDLL(None)


class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
        'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.malloc_trim.argtypes = [ctypes.c_size_t]


def mmapped(size=32 * 1024 ** 2 - 64 * 1024):
    before = libc.mallinfo2().hblks
    block = libc.malloc(size)
    n = libc.mallinfo2().hblks - before
    libc.free(block)
    return n == 1


if sys.argv[1] != 'nothing':
    import contextlib

    import numpy as np

    import starcnet
    from starcnet import StarClusterClassifier
    from starcnet.conftest import make_test_scene

    bands, sources = make_test_scene()
    clf = StarClusterClassifier(device='cpu')
    block = contextlib.nullcontext()
    if sys.argv[1] == 'opt-in':
        from starcnet.utils import large_cpu_buffers

        block = large_cpu_buffers()
    with block:
        clf(bands, sources)
        clf.predict_proba(np.ones((40, 5, 32, 32), dtype=np.float32))
libc.malloc_trim(0)
print(json.dumps([mmapped(), mmapped()]))
"""


def _probe(mode):
    import json
    import os
    import subprocess
    import sys

    import starcnet

    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(starcnet.__file__)))
    env['PYTHONPATH'] = os.pathsep.join([root, *filter(None, [env.get('PYTHONPATH')])])
    done = subprocess.run([sys.executable, '-c', _PROBE, mode], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


_glibc_defaults = pytest.mark.skipif(
    _allocator._glibc() is None or _allocator._user_tuned()
    or not hasattr(_allocator._glibc(), 'mallinfo2'),
    reason='needs glibc >= 2.33 (mallinfo2) with its default malloc settings')


@_glibc_defaults
def test_import_and_classifier_leave_glibc_as_it_was():
    # a fresh process: glibc's thresholds adapt ...
    assert _probe('nothing') == [True, False]
    # ... and still do after import starcnet, a classifier call and
    # predict_proba
    assert _probe('default') == [True, False]


@_glibc_defaults
def test_opting_in_changes_glibc_for_good():
    # what the CLI and Dask workers do, and why only they do it: the
    # adaptive thresholds are off after the block
    assert _probe('opt-in') == [False, False]
