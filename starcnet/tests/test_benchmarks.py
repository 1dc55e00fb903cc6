# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The benchmark suite (``benchmarks/run.py``) still runs, and its FLOP
count is right.  Only from a source checkout.
"""

import importlib.util
from pathlib import Path

import pytest
import torch

from starcnet.models.network import StarcNet

RUN = Path(__file__).resolve().parents[2] / 'benchmarks' / 'run.py'
pytestmark = pytest.mark.skipif(not RUN.exists(), reason='needs the source checkout')


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('starcnet_benchmarks', RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('width', [16, 128])
def test_flops_match_torch_count(bench, width):
    from torch.utils.flop_counter import FlopCounterMode

    net = StarcNet(width=width).eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 5, 32, 32))
    # torch counts convolutions and dense layers, not norms or activations
    assert bench.network_flops(width) == counter.get_total_flops()
    if width == 128:
        assert abs(bench.network_flops(width) / 3.46e9 - 1) < 0.01


def test_suite_runs(bench, tmp_path, capsys):
    assert bench.main(['--quick', '--size', '256', '--sources', '30', '--repeats', '1',
                       '--skip', 'wide', 'flat', '--tmpdir', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for row in ('cutouts: starcnet (memory-mapped, vectorised)',
                'network bundled sim-small-v2: starcnet float32',
                'network bundled sim-small-v2: starcnet float32 untuned (library default)',
                'end to end, 30 candidates: starcnet untuned (library default)',
                'end to end, 30 candidates: starcnet'):
        assert row in out
    assert 'identical' in out and 'DIFFERENT' not in out
    assert list(tmp_path.iterdir()) == []   # the FITS files are removed
