#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Build the bundled default model ``sim-small-v1`` of starcnet.

The one command that makes the shipped weights::

    python scripts/make_default_model.py --out starcnet/data/sim-small-v1.safetensors --seed 20261124

It simulates a class-balanced training set of LEGUS-like 5-band cutouts
with `starcnet.simulation`, trains a width-16 StarcNet with
`starcnet.training.train_model`, evaluates it on a separately seeded
held-out simulated set and saves weights and metadata with
`starcnet.models.registry.save_model`.  Everything is seeded, so the same
command on the same software versions gives the same file.  It runs in
about 15 minutes on 2 CPU cores (``torch.set_num_threads(2)``).

Two maintenance commands regenerate the package data the simulation
reads (they need the reference data of the development checkout, which
the package never reads at run time)::

    python scripts/make_default_model.py --extract-psfs /work/shared/data/psfs
    python scripts/make_default_model.py --extract-photometry /work/shared/data/legus
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / 'starcnet' / 'data'

BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')

#: Normalisation of the bundled model: ``arcsinh((x - offset) / scale)``
#: per band, offset = median background level of the simulated cutouts
#: (sky + diffuse light, e-/s), scale = about 1.5 times their median
#: pixel noise.  Pixel values span four decades (noise ~0.005-0.03 e-/s,
#: cluster peaks up to ~100 e-/s): asinh is linear within the noise and
#: logarithmic on bright cores, so faint structure (class 3 peaks,
#: diffuse emission) stays visible and the network sees shape more than
#: brightness.
NORMALIZATION = {'kind': 'asinh',
                 'offset': [0.012, 0.065, 0.07, 0.13, 0.18],
                 'scale': [0.006, 0.02, 0.025, 0.04, 0.05]}

CLASSES = {'1': 'symmetric cluster', '2': 'asymmetric cluster',
           '3': 'association', '4': 'non-cluster'}

CITATION = ('Pérez, G., Messa, M., Calzetti, D., et al. 2021, ApJ 907, 100 '
            '(StarcNet); LEGUS: Calzetti, D., et al. 2015, AJ 149, 51; '
            'Adamo, A., et al. 2017, ApJ 841, 131')


# ---------------------------------------------------------------------------
# package data extraction (maintenance, needs the shared reference data)
# ---------------------------------------------------------------------------

def extract_psfs(psf_dir, half=20):
    """Crop the WFC3/UVIS TinyTim PSFs to (2 * half + 1) px, renormalise, save."""
    from astropy.io import fits
    out = DATA / 'psfs'
    out.mkdir(parents=True, exist_ok=True)
    for band in BANDS:
        src = Path(psf_dir) / f'wfc3_uvis_{band.lower()}.fits'
        with fits.open(src) as hdul:
            data = hdul[0].data.astype(np.float64)
            header = hdul[0].header
        iy, ix = np.unravel_index(np.argmax(data), data.shape)
        cy, cx = data.shape[0] // 2, data.shape[1] // 2
        if (iy, ix) != (cy, cx):
            msg = f'{src}: PSF peak at {(iy, ix)}, not at the centre {(cy, cx)}'
            raise ValueError(msg)
        crop = data[cy - half:cy + half + 1, cx - half:cx + half + 1]
        kept = crop.sum() / data.sum()
        crop = (crop / crop.sum()).astype(np.float32)
        hdr = fits.Header()
        hdr['FILTER'] = (band, 'WFC3/UVIS filter')
        hdr['INSTRUME'] = (header.get('INSTRUME', 'WFC3_UVIS'), 'Simulated instrument')
        hdr['PIXSCALE'] = (0.0399, 'Pixel scale of the model PSF (arcsec)')
        hdr['SPECTRUM'] = (header.get('SPECTRUM', ''), 'PSF spectrum type')
        hdr['ORIGSIZE'] = (data.shape[0], 'Side of the original PSF (px)')
        hdr['FRACKEPT'] = (round(float(kept), 6), 'Flux fraction inside the crop')
        hdr['ORIGIN'] = 'TinyTim PSF from drizzlepac 3.11.0 drizzlepac/pars/psfs/'
        hdr['COMMENT'] = ('Cropped to the central 41x41 px and renormalised to '
                          'sum 1 by scripts/make_default_model.py.')
        hdr['COMMENT'] = ('Charge diffusion not applied (TinyTim subsampled '
                          'PSF); starcnet.simulation adds a Gaussian blur.')
        hdr['COMMENT'] = 'BSD-3-Clause, Space Telescope Science Institute.'
        fits.PrimaryHDU(crop, header=hdr).writeto(
            out / f'wfc3_uvis_{band.lower()}.fits', overwrite=True)
        print(f'{band}: kept {kept:.4f} of the flux, peak {crop.max():.3f}')


def _class_columns(class_counts):
    columns = {}
    for line in Path(class_counts).read_text().splitlines()[1:]:
        galaxy = line.split()[0]
        ok = 'ok=True' in line
        col = int(line.split(' col=')[1].split()[0])
        columns[galaxy] = col if ok else None
    return columns


def extract_photometry(legus_dir, n_per_class=750, seed=12345):
    """Write ``starcnet/data/legus_class_photometry.ecsv`` from the catalogs."""
    from astropy.table import Table
    legus_dir = Path(legus_dir)
    columns = _class_columns(legus_dir / 'class_counts.txt')
    rows = []
    for path in sorted((legus_dir / 'catalogs').glob('*.tab')):
        galaxy = path.name.split('_')[4]
        col = columns.get(galaxy)
        if col is None:      # ngc4242, ngc4449: no clean human-class column
            continue
        # ngc1313-e/-w carry two extra position columns before RA/Dec
        shift = 2 if galaxy.startswith('ngc1313') else 0
        data = np.loadtxt(path)
        labels = data[:, col]
        good = (labels >= 1) & (labels <= 4)
        mags = data[good][:, [5 + shift, 7 + shift, 9 + shift, 11 + shift,
                              13 + shift]]
        ci = data[good][:, 15 + shift]
        for lab, m, c in zip(labels[good].astype(int), mags, ci):
            if np.any(np.isclose(m, 66.666)):     # outside a band's footprint
                continue
            if not (m[3] < 60 and 0.5 < c < 5):   # need V and a sane CI
                continue
            rows.append((galaxy, lab, *m, c))
    table = Table(rows=rows, names=['galaxy', 'class', *[f'mag_{b}' for b in BANDS],
                                    'ci'])
    rng = np.random.default_rng(seed)
    keep = []
    for k in (1, 2, 3, 4):
        idx = np.flatnonzero(table['class'] == k)
        keep.append(np.sort(rng.choice(idx, min(n_per_class, idx.size),
                                       replace=False)))
    table = table[np.concatenate(keep)]
    for name in table.colnames[2:]:
        table[name] = np.round(table[name].astype(np.float32), 3)
    table.meta['comments'] = [
        'Per-class photometry of human-labelled LEGUS star-cluster candidates.',
        'Source: LEGUS cluster catalogs (HST GO-13364; Calzetti et al. 2015;',
        'Adamo et al. 2017), hlsp_legus_hst_*_multiband_*_padagb-mwext-avgapcor.tab,',
        'all labelled galaxies except ngc4242 and ngc4449 (no clean class column).',
        f'Random subset of at most {n_per_class} objects per class (seed {seed}),',
        'rows outside a band footprint (66.666) dropped; 99.999 = not detected.',
        'Columns: galaxy, human class (mode), Vega magnitudes (aperture corrected;',
        'F438W is F435W and F555W may be F606W on some fields), CI (mag, 1 vs 3 px).',
        'Made by: python scripts/make_default_model.py --extract-photometry DIR',
    ]
    table.write(DATA / 'legus_class_photometry.ecsv', overwrite=True)
    for k in (1, 2, 3, 4):
        sel = table[table['class'] == k]
        print(f'class {k}: {len(sel)} rows, median V {np.median(sel["mag_F555W"]):.2f},'
              f' median CI {np.median(sel["ci"]):.3f}')


# ---------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------

def evaluate(module, cutouts, labels, normalization, batch_size=512):
    """Held-out metrics of ``module`` on simulated ``cutouts``."""
    import torch
    from starcnet.cutouts import normalize
    x = normalize(cutouts, normalization)
    preds = []
    module.eval()
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = module(torch.from_numpy(x[start:start + batch_size]))
            preds.append(logits.argmax(1).numpy() + 1)
    pred = np.concatenate(preds)
    labels = np.asarray(labels)
    confusion = np.zeros((4, 4), dtype=int)
    np.add.at(confusion, (labels - 1, pred - 1), 1)
    recall = confusion.diagonal() / confusion.sum(1)
    precision = confusion.diagonal() / np.maximum(confusion.sum(0), 1)
    binary_true = labels <= 2
    binary_pred = pred <= 2
    return {'n': int(labels.size),
            'accuracy': float(np.mean(pred == labels)),
            'binary_accuracy': float(np.mean(binary_true == binary_pred)),
            'confusion_matrix': confusion.tolist(),
            'confusion_rows': 'true class 1-4; columns: predicted class 1-4',
            'recall': {str(k + 1): float(r) for k, r in enumerate(recall)},
            'precision': {str(k + 1): float(p) for k, p in enumerate(precision)}}


def _versions():
    import astropy
    import scipy
    import torch
    import starcnet
    return {'python': platform.python_version(), 'numpy': np.__version__,
            'scipy': scipy.__version__, 'astropy': astropy.__version__,
            'torch': torch.__version__,
            'starcnet': getattr(starcnet, '__version__', 'unknown')}


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=str(DATA / 'sim-small-v1.safetensors'),
                        help='output weights file (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=20261124,
                        help='master seed (default: %(default)s)')
    parser.add_argument('--n-train', type=int, default=5000,
                        help='simulated training+validation candidates per class')
    parser.add_argument('--n-test', type=int, default=1500,
                        help='held-out simulated candidates per class')
    parser.add_argument('--epochs', type=int, default=12)
    parser.add_argument('--width', type=int, default=16)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--learning-rate', type=float, default=2e-3)
    parser.add_argument('--weight-decay', type=float, default=1e-4)
    parser.add_argument('--val-fraction', type=float, default=0.1)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing output file')
    parser.add_argument('--report', default=None,
                        help='also write the training metadata as JSON here')
    parser.add_argument('--extract-psfs', metavar='DIR', default=None,
                        help='regenerate starcnet/data/psfs/ from DIR and exit')
    parser.add_argument('--extract-photometry', metavar='DIR', default=None,
                        help='regenerate starcnet/data/legus_class_photometry.ecsv '
                             'from the LEGUS folder DIR and exit')
    args = parser.parse_args(argv)

    if args.extract_psfs or args.extract_photometry:
        if args.extract_psfs:
            extract_psfs(args.extract_psfs)
        if args.extract_photometry:
            extract_photometry(args.extract_photometry)
        return 0

    # Idle OpenMP threads sleep instead of spinning: on a shared machine
    # spinning threads slow training several-fold (results are unchanged).
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    import torch
    from starcnet.simulation import simulate_candidates
    from starcnet.training import train_model

    torch.set_num_threads(args.threads)
    t0 = time.time()
    # Independent, reproducible streams for training and held-out sets.
    seeds = np.random.SeedSequence(args.seed).generate_state(3)
    train_seed, test_seed, torch_seed = (int(s) for s in seeds)
    cutouts, labels = simulate_candidates(args.n_train, seed=train_seed)
    test_cutouts, test_labels = simulate_candidates(args.n_test, seed=test_seed)
    t_sim = time.time() - t0
    print(f'simulated {len(labels)} training and {len(test_labels)} held-out '
          f'candidates in {t_sim:.0f} s', flush=True)

    module, history = train_model(
        cutouts, labels, width=args.width, normalization=NORMALIZATION,
        epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, weight_decay=args.weight_decay,
        val_fraction=args.val_fraction, seed=torch_seed, augment=True,
        device='cpu', progress=True)
    t_train = time.time() - t0 - t_sim

    test = evaluate(module, test_cutouts, test_labels, NORMALIZATION)
    print(json.dumps(test, indent=1), flush=True)

    command = ('python scripts/make_default_model.py '
               + ' '.join(sys.argv[1:] if argv is None else argv))
    metadata = {
        'format': 'starcnet-weights',
        'format_version': 1,
        'name': 'sim-small-v1',
        'description': ('Width-16 StarcNet (241,588 parameters) trained only on '
                        'simulated LEGUS-like 5-band cutouts (starcnet.simulation: '
                        'TinyTim WFC3/UVIS PSFs, magnitudes, colours and CI '
                        'resampled from human-labelled LEGUS catalogs). A first '
                        'default model; not yet calibrated on real images.'),
        'config': module.config,
        'bands': list(BANDS),
        'normalization': NORMALIZATION,
        'classes': CLASSES,
        'license': 'BSD-3-Clause',
        'citation': CITATION,
        'training': {
            'seed': args.seed,
            'n_train': history['n_train'],
            'n_val': history['n_val'],
            'n_test': test['n'],
            'epochs': args.epochs,
            'best_epoch': history['best_epoch'],
            'batch_size': args.batch_size,
            'learning_rate': args.learning_rate,
            'weight_decay': args.weight_decay,
            'augmentation': 'dihedral (random 90-degree rotations and flips)',
            'loss': 'cross-entropy, class weights inverse to class frequency',
            'val_accuracy': history['best_val_accuracy'],
            'test_accuracy': test['accuracy'],
            'test_binary_accuracy': test['binary_accuracy'],
            'test_confusion_matrix': test['confusion_matrix'],
            'test_recall': test['recall'],
            'test_precision': test['precision'],
            'data': 'starcnet.simulation.simulate_candidates, class-balanced',
            'command': command,
            'versions': _versions(),
            'run_time_s': round(time.time() - t0, 1),
            'simulation_time_s': round(t_sim, 1),
            'training_time_s': round(t_train, 1),
        },
    }
    from starcnet.models.registry import save_model
    save_model(module, args.out, metadata, overwrite=args.overwrite)
    print(json.dumps(metadata['training'], indent=1))
    if args.report:
        Path(args.report).write_text(json.dumps(metadata, indent=1))
    print(f'saved {args.out} ({os.path.getsize(args.out)} bytes) after '
          f'{time.time() - t0:.0f} s', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
