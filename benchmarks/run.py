# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
starcnet performance suite: every row beside the naive baseline,
measured in the same run, interleaved and repeated; ratios reported.

Run from the repository root::

    python benchmarks/run.py            # full: 5 x 8k x 8k FITS, 3000 candidates
    python benchmarks/run.py --quick    # small, about 2 minutes

The naive baseline does what the original StarcNet code does: whole
bands loaded into memory, a Python loop over candidates to cut them,
the network eager in float32, NCHW, 64 cutouts per call.

The starcnet rows run inside ``starcnet.utils.large_cpu_buffers``, as
the ``starcnet`` command line and the Dask workers do (they own their
process); the ``untuned`` rows show what a library caller gets without
it.

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

def naive_network(width=None, path=None, device='cpu'):
    import torch

    from starcnet.models.network import StarcNet
    from starcnet.models.registry import load_model

    if path is not None:
        net, info = load_model(path, device=device)
        return (net.to(memory_format=torch.contiguous_format), info.normalization,
                info.temperature)
    torch.manual_seed(0)
    return StarcNet(width=width).eval(), {'kind': 'affine', 'offset': [0.0] * 5,
                                          'scale': [1.0] * 5}, 1.0


def naive_logits(net, normalization, cutouts, batch=64, device='cpu', temperature=1.0):
    import torch

    from starcnet.cutouts import normalize

    out = []
    with torch.no_grad():
        for start in range(0, len(cutouts), batch):
            part = normalize(cutouts[start:start + batch], normalization)
            z = net(torch.from_numpy(part).to(device)) / temperature
            if z.ndim == 3:   # a deep ensemble: the log of its members' mean probability
                z = torch.log(torch.softmax(z, dim=-1).mean(dim=0))
            out.append(z.cpu().numpy())
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
    net, normalization, temperature = naive_network(path=model)
    logits = naive_logits(net, normalization, cutouts, temperature=temperature)
    e = np.exp(logits - logits.max(1, keepdims=True))
    proba = e / e.sum(1, keepdims=True)
    sources['cluster_class'] = proba.argmax(1) + 1
    for k in range(4):
        sources[f'prob_class{k + 1}'] = proba[:, k].astype(np.float32)
    sources.write(output, overwrite=True)


def starcnet_pipeline(paths, catalog, model, output, tuned=True):
    from astropy.table import QTable

    from starcnet import MultiBandImage, StarClusterClassifier, write_catalog
    from starcnet.utils import large_cpu_buffers

    # as the command line runs it: with the opt-in allocator settings
    with large_cpu_buffers(None if tuned else False):
        image = MultiBandImage.read(paths)
        clf = StarClusterClassifier(model, device='cpu')
        write_catalog(clf(image, QTable.read(catalog)), output, overwrite=True)


def child(args):
    """Run one pipeline in this (fresh) process; print time and peak RSS."""
    spec = json.loads(args.child)
    if spec.get('mode') == 'network':
        return network_child(spec)
    if spec.get('mode') == 'options':
        return options_child(spec)
    # imports are not what is measured
    import astropy.io.fits
    import astropy.table  # noqa: F401
    import torch  # noqa: F401

    import starcnet
    del starcnet
    start = time.perf_counter()
    if spec['kind'] == 'naive':
        naive_pipeline(spec['paths'], spec['catalog'], spec['model'], spec['output'])
    else:
        starcnet_pipeline(spec['paths'], spec['catalog'], spec['model'], spec['output'],
                          tuned=spec['kind'] != 'untuned')
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
    import starcnet

    # the child measures the starcnet this process imported
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(starcnet.__file__)))
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [root, env.get('PYTHONPATH')]))
    out = subprocess.run([sys.executable, HERE, '--child', json.dumps(spec)],
                         check=True, capture_output=True, text=True, env=env)
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


#: Kinds of network run, each timed in a fresh process: the naive
#: baseline, and the classifier in float32, bfloat16 autocast and
#: compiled, inside ``starcnet.utils.large_cpu_buffers`` as the command
#: line runs it, and in float32 without it (``untuned``: what a library
#: caller gets by default).  Separate processes, because those allocator
#: settings stay in the process, and the baseline, as the original
#: code, runs without them.
NETWORK_KINDS = ('naive', 'float32', 'untuned', 'bfloat16', 'compiled')


def network_flops(width, n_bands=5):
    """Multiply-adds x 2 of one forward pass of StarcNet at ``width``."""
    per_branch = (2 * 9 * n_bands * width * 32 * 32          # first conv
                  + 3 * 2 * 9 * width * width * 32 * 32    # convs 2-4
                  + 3 * 2 * 9 * width * width * 16 * 16    # convs 5-7, after the pool
                  + 2 * width * 16 * 16 * width)           # dense layer
    return 3 * per_branch + 2 * 3 * width * 4


def network_child(spec):
    """Time one kind of network run in this fresh process."""
    import contextlib

    import torch

    from starcnet import StarClusterClassifier
    from starcnet.utils import large_cpu_buffers

    cutouts = np.load(spec['cutouts'])
    kind, device = spec['kind'], spec.get('device', 'cpu')
    block = (contextlib.nullcontext() if kind in ('naive', 'untuned')
             else large_cpu_buffers())
    if kind == 'naive':
        net, normalization, temperature = naive_network(path=spec['model'], device=device)

        def run(part):
            return naive_logits(net, normalization, part, device=device,
                                temperature=temperature)
    else:
        clf = StarClusterClassifier(
            spec['model'], device=device, batch_size=256,
            precision='bfloat16' if kind == 'bfloat16' else 'float32',
            compile=kind == 'compiled')

        def run(part):
            return clf.predict_logits(part)
    with block:
        start = time.perf_counter()
        run(cutouts[:64])   # first-call costs (and the compilation) not timed
        warmup = time.perf_counter() - start
        start = time.perf_counter()
        logits = run(cutouts)
        seconds = time.perf_counter() - start
    np.save(spec['output'], logits)
    device_name = (torch.cuda.get_device_name(device) if device.startswith('cuda')
                   else 'cpu')
    print(json.dumps({'seconds': seconds, 'warmup': warmup, 'device': device_name,
                      'threads': torch.get_num_threads()}))


def bench_network(rows, label, cutouts, repeats, directory, model, kinds,
                  baseline_rate=None, starcnet_rate=None, device='cpu'):
    """
    Network throughput of each kind, a fresh process per kind and round,
    kinds interleaved; returns the median rate of each kind.
    """
    data = os.path.join(directory, 'network_cutouts.npy')
    np.save(data, cutouts)
    times = {kind: [] for kind in kinds}
    warmups = {kind: [] for kind in kinds}
    outputs = {kind: os.path.join(directory, f'logits_{kind}.npy') for kind in kinds}
    for _ in range(repeats):
        for kind in kinds:
            result = run_child({'mode': 'network', 'kind': kind, 'model': model,
                                'cutouts': data, 'output': outputs[kind],
                                'device': device})
            times[kind].append(result['seconds'])
            warmups[kind].append(result['warmup'])
    logits = {kind: np.load(outputs[kind]) for kind in kinds}
    n = len(cutouts)
    rates = {kind: n / statistics.median(times[kind]) for kind in kinds}
    names = {'naive': 'naive (NCHW, batch 64, float32)', 'float32': 'starcnet float32',
             'untuned': 'starcnet float32 untuned (library default)',
             'bfloat16': 'starcnet bfloat16 (autocast)',
             'compiled': 'starcnet float32 torch.compile'}
    for kind in kinds:
        note = ''
        if kind != 'naive':
            same, dp = agreement(logits['naive'], logits[kind])
            note = f'same class {same:.2%}, max|dp| {dp:.1e}'
        if kind == 'compiled':
            note += f'; +{statistics.median(warmups[kind]):.0f} s to compile once'
        if device != 'cpu':
            note = f'{result["device"]}; {note}'
        rows.append((f'network {label}: {names[kind]}', rates[kind],
                     ratio(times, kind), note))
    if baseline_rate is not None and 'float32' in kinds:
        rows.append((f'network {label}: starcnet float32 vs width-128 naive', rates['float32'],
                     rates['float32'] / baseline_rate,
                     'the naive baseline of the published-size network'))
    if starcnet_rate is not None and 'float32' in kinds:
        rows.append((f'network {label}: starcnet float32 vs width-128 starcnet float32',
                     rates['float32'], rates['float32'] / starcnet_rate,
                     'the published-size network run by starcnet (goal >= 10x)'))
    for path in (data, *outputs.values()):
        os.remove(path)
    return rates


#: The classifier's per-source options timed beside its plain run: name,
#: ``n_samples`` of Monte Carlo dropout (0: none), whether the OOD score is
#: computed, and the members of a deep ensemble of copies of the model's
#: network (0: the model itself).  For a model that is an ensemble,
#: `ENSEMBLE_OPTIONS` instead.
OPTIONS = (('plain', 0, False, 0), ('ood_score', 0, True, 0),
           ('mc_dropout, n_samples=4', 4, False, 0), ('mc_dropout, n_samples=16', 16, False, 0),
           ('ensemble of 3', 0, False, 3))
#: The options of a model that is a deep ensemble: its plain run (every
#: member, their mean and summary), with the OOD score, and one of its
#: members alone (-1), the network an ensemble multiplies.
ENSEMBLE_OPTIONS = (('plain', 0, False, 0), ('ood_score', 0, True, 0),
                    ('one member', 0, False, -1))


def options_child(spec):
    """
    Time the network part of the classifier with each option of `OPTIONS`
    (`ENSEMBLE_OPTIONS` for an ensemble model) in this fresh process,
    interleaved; what ``StarClusterClassifier`` computes per batch: the
    plain pass (softmax and ``review_priority`` included; for an ensemble,
    the members' summary too), the same pass with its penultimate
    features and the model's OOD score
    (`starcnet.models.uncertainty.ood_score` of its ``ood`` entry, with
    the centre rise where it has a ``centre`` threshold; the energy score
    for a model without one), the Monte Carlo samples and
    their summary, and a deep ensemble of copies of the model's network
    (the cost of an ensemble of that size: the members' pass, their mean
    and their summary), or one member of an ensemble model alone.
    """
    import torch

    from starcnet import StarClusterClassifier
    from starcnet.models import StarcNetEnsemble
    from starcnet.models import uncertainty as unc
    from starcnet.models.inference import Predictor, softmax
    from starcnet.utils import large_cpu_buffers

    cutouts = np.load(spec['cutouts'])
    device = spec.get('device', 'cpu')
    clf = StarClusterClassifier(spec['model'], device=device, batch_size=256)
    entry = clf.model_info.ood or {'kind': 'energy', 'threshold': 0.0, 'quantile': 0.99}
    is_ensemble = clf.predictor.is_ensemble
    options = ENSEMBLE_OPTIONS if is_ensemble else OPTIONS

    def score(logits, features):
        # with the centre rise of the OFF_CENTRE flag where the entry has a
        # threshold for it, as the classifier computes them
        return unc.ood_score(entry, logits=logits, features=features, cutouts=cutouts,
                             return_rise='centre' in entry)

    def predictor_of(network):
        return Predictor(network, clf.model_info.normalization, device=device,
                         batch_size=256, temperature=clf.temperature)

    others = {m: predictor_of(clf.network.members[0] if m < 0 else
                              StarcNetEnsemble.from_networks([clf.network] * m))
              for *_, m in options if m}

    def members_summary(predictor, features=False):
        out = predictor.member_logits(cutouts, return_features=features)
        member_logits, feats = out if features else (out, None)
        logits = predictor.combine_members(member_logits)
        unc.uncertainty_summary(softmax(member_logits))
        return logits, feats

    def option(n_samples, ood, members):
        def run():
            predictor = others.get(members, clf.predictor)
            if members > 0 or is_ensemble and predictor is clf.predictor:
                logits, features = members_summary(predictor, features=ood)
            elif ood:
                logits, features = predictor.logits(cutouts, return_features=True)
            else:
                logits = predictor.logits(cutouts)
            if ood:
                score(logits, features)
            proba = softmax(logits)
            if n_samples:
                samples = predictor.sample_proba(cutouts, n_samples=n_samples, seed=0)
                proba = unc.uncertainty_summary(samples)['mean']
            unc.review_priority(proba)
        return run

    with large_cpu_buffers():
        functions = {name: option(n, ood, m) for name, n, ood, m in options}
        # first-call costs not timed
        logits, features = clf.predictor.logits(cutouts, return_features=True)
        if not is_ensemble:
            clf.predictor.sample_proba(cutouts[:64], n_samples=2, seed=0)
        for predictor in others.values():
            predictor.logits(cutouts[:64])
        times = interleaved(functions, spec['repeats'])
    # the score itself, from the pass's logits and features, timed alone
    alone = []
    for _ in range(20):
        start = time.perf_counter()
        score(logits, features)
        alone.append(time.perf_counter() - start)
    device_name = (torch.cuda.get_device_name(device) if device.startswith('cuda')
                   else 'cpu')
    n_members = clf.predictor.n_members
    passes = {name: (n_members if m == 0 else 1 if m < 0 else m) + n
              for name, n, _, m in options}
    print(json.dumps({'times': times, 'device': device_name,
                      'ood_seconds': statistics.median(alone), 'ood_kind': entry['kind'],
                      'threads': torch.get_num_threads(),
                      'options': [(name, n, m, passes[name]) for name, n, _, m in options],
                      'members': n_members if is_ensemble else 0}))


def bench_options(rows, cutouts, repeats, directory, model, device='cpu', table=None):
    """
    The cost of the classifier's options (Monte Carlo dropout, OOD score)
    beside its plain run, measured in one fresh process, interleaved;
    ratio = plain time / time.  With ``table``, also written there as a
    reST table (``docs/uncertainty_cost.inc``).
    """
    data = os.path.join(directory, 'options_cutouts.npy')
    np.save(data, cutouts)
    result = run_child({'mode': 'options', 'model': model, 'cutouts': data,
                        'repeats': repeats, 'device': device})
    os.remove(data)
    times = result['times']
    n = len(cutouts)
    label = os.path.basename(model).removesuffix('.safetensors')
    if result['members']:
        label += f' (deep ensemble of {result["members"]})'
    lines = []
    for name, n_samples, members, passes in result['options']:
        seconds = statistics.median(times[name])
        factor = ratio(times, name, base='plain')
        note = ('the baseline of these rows: one pass, softmax, review_priority'
                if name == 'plain' else f'costs {1 / factor:.2f}x plain')
        if passes > 1 or members:
            note += f' ({passes} network passes)'
        if name == 'ood_score':
            note += (f' (the {result["ood_kind"]} score from the same pass: '
                     f'{1e3 * result["ood_seconds"]:.2f} ms of it, timed alone)')
        rows.append((f'options {label}, {n} cutouts: {name}', n / seconds, factor, note))
        lines.append((name, n_samples, members, passes, seconds, 1 / factor))
    if table:
        write_options_table(table, lines, n, label,
                            f'{result["device"]}, {result["threads"]} threads', repeats)


def write_options_table(path, lines, n, label, device, repeats):
    """The measured costs as the reST include of the uncertainty page."""
    head = (f'{n} cutouts, ``{label}``, {device}', 'network passes', 'time (s)',
            'cost vs plain')
    body = []
    for name, n_samples, members, passes, seconds, cost in lines:
        option = ('plain (no OOD score)' if name == 'plain'
                  else 'with ``ood_score`` (the default)' if name == 'ood_score'
                  else 'one member alone' if members < 0
                  else f'deep ensemble of {members} such networks' if members
                  else f"``uncertainty='mc_dropout'``, ``n_samples={n_samples}``")
        body.append((option, str(passes), f'{seconds:.2f}', f'{cost:.2f}'))
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    sep = '  '.join('=' * w for w in widths)
    line = lambda r: '  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    text = (f'.. Generated by benchmarks/run.py (median of {repeats} interleaved rounds '
            'in one process; cost = time / plain time); do not edit.\n\n'
            + '\n'.join([sep, line(head), sep, *map(line, body), sep]) + '\n')
    from starcnet.io._atomic import atomic_write

    def write(tmp):
        with open(tmp, 'w') as handle:
            handle.write(text)
    atomic_write(path, write, overwrite=True)


def bench_limit(rows, width_rate, flops):
    """
    The float32 limit of this machine for the published-size network:
    a large matrix product (4096^2, ``out=``) and the network's main
    convolution (128 -> 128 channels, 3x3, 32x32, batch 32, NHWC), in
    GFLOP/s; the network's rate as a fraction of each.
    """
    import torch
    import torch.nn.functional as F

    def gflops(function, flop, repeats=5):
        function()
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            best = min(best, time.perf_counter() - start)
        return flop / best / 1e9

    n = 4096
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    matmul = gflops(lambda: torch.mm(a, b, out=c), 2 * n ** 3)
    x = torch.randn(32, 128, 32, 32).contiguous(memory_format=torch.channels_last)
    w = torch.randn(128, 128, 3, 3).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        conv = gflops(lambda: F.conv2d(x, w, padding=1), 2 * 32 * 128 * 128 * 9 * 1024)
    achieved = width_rate * flops / 1e9
    for name, peak in (('float32 matrix product', matmul), ('3x3 convolution', conv)):
        rows.append((f'limit, {name} {peak:.0f} GFLOP/s: {flops / 1e9:.2f} GFLOP/cand',
                     peak * 1e9 / flops, float('nan'),
                     f'starcnet float32 width 128: {achieved:.0f} GFLOP/s = '
                     f'{achieved / peak:.0%} of it'))


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


def bench_end_to_end(rows, paths, catalog, model, directory, repeats, n_sources,
                     untuned=True):
    spec = {'paths': paths, 'catalog': catalog, 'model': model}
    kinds = ('naive', 'starcnet', 'untuned') if untuned else ('naive', 'starcnet')
    times = {kind: [] for kind in kinds}
    peaks = {kind: [] for kind in kinds}
    for _ in range(repeats):
        for kind in kinds:
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
    if untuned:
        rows.append((f'end to end, {n_sources} candidates: starcnet untuned (library default)',
                     n_sources / statistics.median(times['untuned']),
                     ratio(times, 'untuned'),
                     f'peak RSS {statistics.median(peaks["untuned"]):.0f} MB'))
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


def _take(cutouts, n):
    """The first ``n`` cutouts, repeated as often as needed."""
    return np.resize(cutouts, (n, *cutouts.shape[1:]))


def print_table(rows, header):
    print(header)
    width = max(len(r[0]) for r in rows)
    print(f'{"benchmark":<{width}}  {"cand/s":>9}  {"ratio":>7}  notes')
    print('-' * (width + 40))
    for name, rate, factor, note in rows:
        rate_text = '' if math.isnan(rate) else f'{rate:9.1f}'
        factor_text = '' if math.isnan(factor) else f'{factor:7.2f}'
        print(f'{name:<{width}}  {rate_text:>9}  {factor_text:>7}  {note}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true',
                        help='a 2k x 2k galaxy, 500 candidates, fewer repeats')
    parser.add_argument('--size', type=int, help='image side in pixels (default 8192)')
    parser.add_argument('--sources', type=int, help='candidates (default 3000)')
    parser.add_argument('--repeats', type=int, help='interleaved rounds (default 5)')
    parser.add_argument('--wide-cutouts', type=int,
                        help='cutouts through the width-128 network per round (default 256)')
    parser.add_argument('--device', default='cpu',
                        help="torch device of the network rows, e.g. 'cuda' (default 'cpu'; "
                             'the cutout, limit and end-to-end rows run on the CPU)')
    parser.add_argument('--tmpdir', help='where to write the FITS files')
    parser.add_argument('--skip', nargs='*', default=[],
                        choices=['cutouts', 'wide', 'compile', 'untuned', 'limit',
                                 'bundled', 'options', 'e2e', 'flat'])
    parser.add_argument('--options-cutouts', type=int,
                        help='cutouts of the options rows (default 256, --quick 64)')
    parser.add_argument('--options-table', metavar='PATH',
                        help='also write the options rows as a reST table there '
                             '(docs/uncertainty_cost.inc)')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    import torch

    size = args.size or (2048 if args.quick else 8192)
    n_sources = args.sources or (500 if args.quick else 3000)
    repeats = args.repeats or (2 if args.quick else 5)
    gpu = args.device != 'cpu'
    n_wide = args.wide_cutouts or (32768 if gpu else 128 if args.quick else 256)
    n_bundled = 32768 if gpu else 512 if args.quick else 2048
    from starcnet import conf
    from starcnet.models.registry import get_model_path
    bundled_name = conf.default_model
    bundled = get_model_path(bundled_name)

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
        wide = None
        if 'wide' not in args.skip:
            from starcnet.models.network import StarcNet
            from starcnet.models.registry import save_model
            torch.manual_seed(0)
            wide_model = save_model(StarcNet(width=128).eval(),
                                    os.path.join(directory, 'w128.safetensors'), {
                                        'bands': list(BANDS), 'normalization': {
                                            'kind': 'affine', 'offset': [0.0] * 5,
                                            'scale': [1.0] * 5}})
            kinds = [k for k in NETWORK_KINDS
                     if not (k == 'compiled' and 'compile' in args.skip
                             or k == 'untuned' and 'untuned' in args.skip)]
            wide = bench_network(rows, 'width 128 (published size)',
                                 _take(cutouts, n_wide), repeats, directory, wide_model,
                                 kinds, device=args.device)
            if 'limit' not in args.skip and not gpu:
                bench_limit(rows, wide['float32'], network_flops(128))
        if 'bundled' not in args.skip:
            bench_network(rows, f'bundled {bundled_name}', _take(cutouts, n_bundled),
                          repeats, directory, bundled,
                          ('naive', 'float32', 'bfloat16') if 'untuned' in args.skip
                          else ('naive', 'float32', 'untuned', 'bfloat16'),
                          baseline_rate=wide and wide['naive'],
                          starcnet_rate=wide and wide.get('float32'), device=args.device)
        if 'options' not in args.skip:
            n_options = args.options_cutouts or (64 if args.quick else 256)
            # by name: a bundled model's OOD entry may be in the registry only
            bench_options(rows, _take(cutouts, n_options), repeats, directory,
                          bundled_name, device=args.device, table=args.options_table)
        del arrays, cutouts
        peak = None
        if 'e2e' not in args.skip:
            peak = bench_end_to_end(rows, paths, catalog, bundled, directory,
                                    max(1, repeats // 2), n_sources,
                                    untuned='untuned' not in args.skip)
        if 'flat' not in args.skip and peak is not None:
            bench_flat_memory(rows, paths, directory, bundled, size, n_sources, peak)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print_table(rows, f'\nstarcnet benchmarks: torch {torch.__version__}, '
                      f'{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, '
                      f'network rows on {args.device}; '
                      'ratio = naive time / time (median of interleaved rounds)')
    return 0


if __name__ == '__main__':
    # run from a source checkout, measure that checkout's starcnet
    ROOT = os.path.dirname(os.path.dirname(HERE))
    if os.path.isfile(os.path.join(ROOT, 'starcnet', '__init__.py')):
        sys.path.insert(0, ROOT)
    sys.exit(main())
