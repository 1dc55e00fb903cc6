# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
starcnet performance suite: every row beside the naive baseline,
measured in the same run, interleaved and repeated; ratios reported.

Run from the repository root::

    python benchmarks/run.py            # full: 5 x 8k x 8k FITS, 3000 candidates
    python benchmarks/run.py --quick    # small, a minute

The naive baseline does what the original StarcNet code does: whole
bands loaded into memory, a Python loop over candidates to cut them,
the network eager in float32, NCHW, 64 cutouts per call.

The FITS files are written to a temporary directory (``--tmpdir``,
default the system's) and removed at the end.
"""

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')
HERE = os.path.abspath(__file__)


# ---------------------------------------------------------------------------
# Data

def make_galaxy(directory, size, n_sources, seed=0):
    """
    Five size x size float32 FITS bands (noise plus a Gaussian source at
    every candidate), written in strips so that this process stays
    small, and an ECSV candidate list.
    """
    from astropy.io import fits
    from astropy.table import Table

    rng = np.random.default_rng(seed)
    x = rng.uniform(20, size - 21, n_sources)
    y = rng.uniform(20, size - 21, n_sources)
    flux = rng.lognormal(1.0, 1.0, n_sources)
    width = rng.uniform(0.8, 3.0, n_sources)
    order = np.argsort(y)
    paths = {}
    strip = 512
    stamp = np.arange(-10, 11)
    for k, band in enumerate(BANDS):
        path = os.path.join(directory, f'{band.lower()}.fits')
        header = fits.PrimaryHDU(np.zeros((1, 1), dtype=np.float32)).header
        header['NAXIS1'] = size
        header['NAXIS2'] = size
        header['FILTER'] = band
        header['BUNIT'] = 'ELECTRONS/S'
        with fits.StreamingHDU(path, header) as stream:
            for row in range(0, size, strip):
                rows = min(strip, size - row)
                block = rng.normal(0.02 * (k + 1), 0.01, (rows + 20, size)).astype(np.float32)
                # sources whose stamps touch this strip (block has 10 rows of margin)
                lo, hi = np.searchsorted(y[order], [row - 11, row + rows + 11])
                for i in order[lo:hi]:
                    iy, ix = int(y[i]) - row + 10, int(x[i])
                    g = (flux[i] * (1 + 0.3 * k)
                         * np.exp(-(stamp[:, None] ** 2 + stamp[None, :] ** 2)
                                  / (2 * width[i] ** 2)))
                    r0, r1 = iy - 10, iy + 11
                    c0, c1 = ix - 10, ix + 11
                    rs = slice(max(r0, 0), min(r1, rows + 20))
                    block[rs, c0:c1] += g[rs.start - r0:rs.stop - r0]
                stream.write(block[10:10 + rows])
        paths[band] = path
    catalog = os.path.join(directory, 'candidates.ecsv')
    Table({'x': x, 'y': y}).write(catalog)
    return paths, catalog


# ---------------------------------------------------------------------------
# The naive pipeline (the baseline), as the original code works

def naive_network(width=None, path=None):
    import torch

    from starcnet.models.network import StarcNet
    from starcnet.models.registry import load_model

    if path is not None:
        net, info = load_model(path, device='cpu')
        return net.to(memory_format=torch.contiguous_format), info.normalization
    torch.manual_seed(0)
    return StarcNet(width=width).eval(), {'kind': 'affine', 'offset': [0.0] * 5,
                                          'scale': [1.0] * 5}


def naive_logits(net, normalization, cutouts, batch=64):
    import torch

    from starcnet.cutouts import normalize

    out = []
    with torch.no_grad():
        for start in range(0, len(cutouts), batch):
            part = normalize(cutouts[start:start + batch], normalization)
            out.append(net(torch.from_numpy(part)).numpy())
    return np.concatenate(out)


def naive_cutouts(arrays, x, y):
    cutouts = []
    for xi, yi in zip(x, y):
        ix, iy = int(xi) + 1, int(yi) + 1   # 1-based catalog position
        cutouts.append(np.stack([a[iy - 16:iy + 16, ix - 16:ix + 16] for a in arrays]))
    return np.asarray(cutouts, dtype=np.float32)


def naive_pipeline(paths, catalog, model, output):
    from astropy.io import fits
    from astropy.table import Table

    arrays = [fits.getdata(paths[b], memmap=False).astype(np.float32) for b in BANDS]
    sources = Table.read(catalog)
    cutouts = naive_cutouts(arrays, sources['x'], sources['y'])
    net, normalization = naive_network(path=model)
    logits = naive_logits(net, normalization, cutouts)
    e = np.exp(logits - logits.max(1, keepdims=True))
    proba = e / e.sum(1, keepdims=True)
    sources['cluster_class'] = proba.argmax(1) + 1
    for k in range(4):
        sources[f'prob_class{k + 1}'] = proba[:, k].astype(np.float32)
    sources.write(output, overwrite=True)


def starcnet_pipeline(paths, catalog, model, output):
    from astropy.table import QTable

    from starcnet import MultiBandImage, StarClusterClassifier, write_catalog

    image = MultiBandImage.read(paths)
    clf = StarClusterClassifier(model, device='cpu')
    write_catalog(clf(image, QTable.read(catalog)), output, overwrite=True)


def child(args):
    """Run one pipeline in this (fresh) process; print time and peak RSS."""
    spec = json.loads(args.child)
    # imports are not what is measured
    import astropy.io.fits
    import astropy.table  # noqa: F401
    import torch  # noqa: F401

    import starcnet
    del starcnet
    start = time.perf_counter()
    run = naive_pipeline if spec['kind'] == 'naive' else starcnet_pipeline
    run(spec['paths'], spec['catalog'], spec['model'], spec['output'])
    seconds = time.perf_counter() - start
    print(json.dumps({'seconds': seconds, 'peak_mb': peak_rss_mb()}))


def peak_rss_mb():
    """
    Peak resident memory of this process: VmHWM (its own address space,
    reset by exec; ``ru_maxrss`` of a child can carry the parent's peak
    across fork + exec), else ``ru_maxrss``.
    """
    try:
        with open('/proc/self/status') as handle:
            for line in handle:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(spec):
    out = subprocess.run([sys.executable, HERE, '--child', json.dumps(spec)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# Measurements

def interleaved(functions, repeats):
    """Run each function in turn, ``repeats`` rounds; return seconds lists."""
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return times


def ratio(times, name, base='naive'):
    """Median over rounds of (baseline time / time): >1 is faster."""
    return statistics.median(b / t for b, t in zip(times[base], times[name]))


def agreement(reference, logits):
    def proba(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    p, q = proba(reference), proba(logits)
    return (float(np.mean(p.argmax(1) == q.argmax(1))), float(np.abs(p - q).max()))


def bench_network(rows, label, cutouts, repeats, width=None, model=None, bf16=True,
                  compiled=False):
    import torch

    from starcnet import StarClusterClassifier
    from starcnet.models.registry import save_model

    net, normalization = naive_network(width=width, path=model)
    tmp = None
    if model is None:
        tmp = tempfile.mkdtemp(prefix='starcnet-bench-model-')
        model = save_model(net, os.path.join(tmp, f'w{width}.safetensors'), {
            'bands': list(BANDS), 'normalization': normalization})
    clf = StarClusterClassifier(model, device='cpu', batch_size=256)
    net = net.to(memory_format=torch.contiguous_format)
    results = {}
    functions = {
        'naive': lambda: results.__setitem__('naive', naive_logits(net, normalization, cutouts)),
        'starcnet': lambda: results.__setitem__('starcnet', clf.predict_logits(cutouts)),
    }
    if bf16:
        clf16 = StarClusterClassifier(model, device='cpu', batch_size=256,
                                      precision='bfloat16')
        functions['bfloat16'] = lambda: results.__setitem__(
            'bfloat16', clf16.predict_logits(cutouts))
    compile_seconds = None
    if compiled:
        clfc = StarClusterClassifier(model, device='cpu', batch_size=256, compile=True)
        start = time.perf_counter()
        clfc.predict_logits(cutouts[:1])   # compiles
        compile_seconds = time.perf_counter() - start
        functions['compiled'] = lambda: results.__setitem__(
            'compiled', clfc.predict_logits(cutouts))
    times = interleaved(functions, repeats)
    n = len(cutouts)
    same, dp = agreement(results['naive'], results['starcnet'])
    rows.append((f'network {label}: naive (NCHW, batch 64, fp32)',
                 n / statistics.median(times['naive']), 1.0, ''))
    rows.append((f'network {label}: starcnet float32', n / statistics.median(times['starcnet']),
                 ratio(times, 'starcnet'), f'same class {same:.2%}, max|dp| {dp:.1e}'))
    if bf16:
        same, dp = agreement(results['naive'], results['bfloat16'])
        rows.append((f'network {label}: starcnet bfloat16 (autocast)',
                     n / statistics.median(times['bfloat16']), ratio(times, 'bfloat16'),
                     f'same class {same:.2%}, max|dp| {dp:.1e}'))
    if compiled:
        same, dp = agreement(results['naive'], results['compiled'])
        rows.append((f'network {label}: starcnet float32 torch.compile',
                     n / statistics.median(times['compiled']), ratio(times, 'compiled'),
                     (f'same class {same:.2%}, max|dp| {dp:.1e}; '
                      f'+{compile_seconds:.0f} s to compile once')))
    if tmp:
        shutil.rmtree(tmp)


def bench_cutouts(rows, paths, catalog, repeats):
    from astropy.io import fits
    from astropy.table import Table

    from starcnet import MultiBandImage
    from starcnet.cutouts import extract_cutouts

    sources = Table.read(catalog)
    x, y = np.asarray(sources['x']), np.asarray(sources['y'])
    loaded = [fits.getdata(paths[b], memmap=False).astype(np.float32) for b in BANDS]
    image = MultiBandImage.read(paths)
    mapped = image.band_arrays(BANDS)[0]
    out = {}
    times = interleaved({
        'naive': lambda: out.__setitem__('naive', naive_cutouts(loaded, x, y)),
        'starcnet': lambda: out.__setitem__('starcnet', extract_cutouts(mapped, x, y)[0]),
        'loaded': lambda: extract_cutouts(loaded, x, y),
    }, repeats)
    same = np.array_equal(out['naive'], out['starcnet'])
    rows.append(('cutouts: naive (loaded bands, Python loop)',
                 len(x) / statistics.median(times['naive']), 1.0, ''))
    rows.append(('cutouts: starcnet (memory-mapped, vectorised)',
                 len(x) / statistics.median(times['starcnet']), ratio(times, 'starcnet'),
                 'identical' if same else 'DIFFERENT'))
    rows.append(('cutouts: starcnet on the loaded bands (vectorised)',
                 len(x) / statistics.median(times['loaded']), ratio(times, 'loaded'),
                 'the same arrays as the naive loop'))


def bench_end_to_end(rows, paths, catalog, model, directory, repeats, n_sources):
    spec = {'paths': paths, 'catalog': catalog, 'model': model}
    times = {'naive': [], 'starcnet': []}
    peaks = {'naive': [], 'starcnet': []}
    for _ in range(repeats):
        for kind in ('naive', 'starcnet'):
            result = run_child({**spec, 'kind': kind,
                                'output': os.path.join(directory, f'out_{kind}.ecsv')})
            times[kind].append(result['seconds'])
            peaks[kind].append(result['peak_mb'])
    # same classes in both outputs
    from astropy.table import Table
    a = Table.read(os.path.join(directory, 'out_naive.ecsv'))
    b = Table.read(os.path.join(directory, 'out_starcnet.ecsv'))
    same = float(np.mean(np.asarray(a['cluster_class']) == np.asarray(b['cluster_class'])))
    dp = max(float(np.abs(np.asarray(a[f'prob_class{k}']) - np.asarray(b[f'prob_class{k}'])).max())
             for k in range(1, 5))
    rows.append((f'end to end, {n_sources} candidates: naive', n_sources / statistics.median(
        times['naive']), 1.0, f'peak RSS {statistics.median(peaks["naive"]):.0f} MB'))
    rows.append((f'end to end, {n_sources} candidates: starcnet',
                 n_sources / statistics.median(times['starcnet']), ratio(times, 'starcnet'),
                 (f'peak RSS {statistics.median(peaks["starcnet"]):.0f} MB; '
                  f'same class {same:.2%}, max|dp| {dp:.1e}')))
    rows.append(('peak RSS: starcnet / naive (lower is better)', float('nan'),
                 statistics.median(peaks['starcnet']) / statistics.median(peaks['naive']), ''))
    return statistics.median(peaks['starcnet'])


def bench_flat_memory(rows, paths, directory, model, size, n_sources, peak_at_n):
    """Peak RSS with 3x the candidates: flat means about the same."""
    from astropy.table import Table

    rng = np.random.default_rng(1)
    n = 3 * n_sources
    catalog = os.path.join(directory, 'candidates_3x.ecsv')
    Table({'x': rng.uniform(20, size - 21, n), 'y': rng.uniform(20, size - 21, n)}).write(
        catalog)
    result = run_child({'paths': paths, 'catalog': catalog, 'model': model,
                        'kind': 'starcnet', 'output': os.path.join(directory, 'out_3x.ecsv')})
    rows.append((f'peak RSS, {n} vs {n_sources} candidates (flat = 1.0)', float('nan'),
                 result['peak_mb'] / peak_at_n, f'{result["peak_mb"]:.0f} MB'))


def print_table(rows, header):
    print(header)
    width = max(len(r[0]) for r in rows)
    print(f'{"benchmark":<{width}}  {"cand/s":>9}  {"ratio":>7}  notes')
    print('-' * (width + 40))
    for name, rate, factor, note in rows:
        rate_text = '' if math.isnan(rate) else f'{rate:9.1f}'
        print(f'{name:<{width}}  {rate_text:>9}  {factor:7.2f}  {note}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true',
                        help='a 2k x 2k galaxy, 500 candidates, fewer repeats')
    parser.add_argument('--size', type=int, help='image side in pixels (default 8192)')
    parser.add_argument('--sources', type=int, help='candidates (default 3000)')
    parser.add_argument('--repeats', type=int, help='interleaved rounds (default 5)')
    parser.add_argument('--wide-cutouts', type=int,
                        help='cutouts through the width-128 network per round (default 128)')
    parser.add_argument('--tmpdir', help='where to write the FITS files')
    parser.add_argument('--skip', nargs='*', default=[],
                        choices=['cutouts', 'wide', 'compile', 'bundled', 'e2e', 'flat'])
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    import torch

    size = args.size or (2048 if args.quick else 8192)
    n_sources = args.sources or (500 if args.quick else 3000)
    repeats = args.repeats or (2 if args.quick else 5)
    n_wide = args.wide_cutouts or (64 if args.quick else 128)
    from starcnet.models.registry import get_model_path
    bundled = get_model_path('sim-small-v1')

    directory = tempfile.mkdtemp(prefix='starcnet-bench-', dir=args.tmpdir)
    rows = []
    try:
        start = time.perf_counter()
        paths, catalog = make_galaxy(directory, size, n_sources)
        print(f'wrote 5 x {size} x {size} float32 FITS bands '
              f'({5 * size * size * 4 / 1e9:.2f} GB) and {n_sources} candidates '
              f'in {time.perf_counter() - start:.0f} s', flush=True)
        if 'cutouts' not in args.skip:
            bench_cutouts(rows, paths, catalog, repeats)
        # real cutouts (bright sources, noise) for the networks
        from astropy.table import Table

        from starcnet import MultiBandImage
        from starcnet.cutouts import extract_cutouts
        sources = Table.read(catalog)
        arrays = MultiBandImage.read(paths).band_arrays(BANDS)[0]
        cutouts = extract_cutouts(arrays, sources['x'], sources['y'])[0]
        if 'wide' not in args.skip:
            bench_network(rows, 'width 128 (published size)', cutouts[:n_wide],
                          repeats, width=128, compiled='compile' not in args.skip)
        if 'bundled' not in args.skip:
            bench_network(rows, 'bundled sim-small-v1', cutouts[:min(1024, len(cutouts))],
                          repeats, model=bundled)
        del arrays, cutouts
        peak = None
        if 'e2e' not in args.skip:
            peak = bench_end_to_end(rows, paths, catalog, bundled, directory,
                                    max(1, repeats // 2), n_sources)
        if 'flat' not in args.skip and peak is not None:
            bench_flat_memory(rows, paths, directory, bundled, size, n_sources, peak)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print_table(rows, f'\nstarcnet benchmarks: torch {torch.__version__}, '
                      f'{torch.get_num_threads()} threads, {os.cpu_count()} CPUs; '
                      'ratio = naive time / time (median of interleaved rounds)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
