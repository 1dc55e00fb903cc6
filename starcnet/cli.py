# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The ``starcnet`` command line, a thin layer over the Python API.
"""

import argparse
import contextlib
import logging
import os
import sys
import threading

import numpy as np

__all__ = ['main']

log = logging.getLogger('starcnet')


class CLIError(Exception):
    """An error to report to the user without a traceback."""


def _band_paths(items):
    paths = {}
    for item in items:
        band, sep, path = item.partition('=')
        if not sep or not band or not path:
            msg = f'bands are given as BAND=FILE (e.g. F555W=f555w_drc.fits), got {item!r}'
            raise CLIError(msg)
        paths[band] = path
    return paths


def _check_outputs(paths, overwrite):
    for path in paths:
        if path and os.path.exists(path) and not overwrite:
            msg = f'{path} already exists; add --overwrite to replace it'
            raise CLIError(msg)


def _same_file(a, b):
    """Whether two paths name one file (after links and ``..``)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)     # hard links
    except OSError:
        return False


def _check_paths(outputs, inputs=()):
    """
    Refuse, before any work, outputs that name one file twice or an
    input file (with --overwrite one output would replace the other, or
    an input).  ``outputs`` and ``inputs`` map an option name to a path.
    """
    outputs = [(name, os.fspath(path)) for name, path in outputs if path]
    inputs = [(name, os.fspath(path)) for name, path in inputs if path]
    for k, (name, path) in enumerate(outputs):
        for other, other_path in outputs[:k]:
            if _same_file(path, other_path):
                msg = (f'{other} and {name} name the same file ({path}); give '
                       'each output its own file')
                raise CLIError(msg)
        for other, other_path in inputs:
            if _same_file(path, other_path):
                msg = (f'{name} {path} is the input {other}; choose another '
                       'output file')
                raise CLIError(msg)


def _show_progress(args):
    """
    Progress bars go to standard error when it is a terminal, --quiet is
    not given and tqdm is installed; logs and pipes stay clean.
    """
    from .utils import _optional_deps

    return (not args.quiet) and sys.stderr.isatty() and _optional_deps.HAS_TQDM


def _summary(catalog):
    classes = np.ma.asarray(catalog['cluster_class'])
    counts = {k: int(np.count_nonzero(classes == k)) for k in range(1, 5)}
    n_unclassified = int(np.count_nonzero(np.ma.getmaskarray(classes)))
    names = dict(zip(range(1, 5), catalog.meta['starcnet']['class_names']))
    lines = [f'{len(catalog)} sources classified with model '
             f"{catalog.meta['starcnet']['model']}:"]
    lines += [f'  class {k} ({names[k]}): {counts[k]}' for k in range(1, 5)]
    lines.append(f'  not classified (see starcnet_flags): {n_unclassified}')
    lines += _trust_summary(catalog, classes)
    return '\n'.join(lines)


def _trust_summary(catalog, classes):
    """
    Lines counting confident, uncertain, out-of-distribution and
    off-centre sources, when the catalog has the columns to tell
    (uncertainty on, or a model with an OOD threshold; off centre with a
    centre threshold).
    """
    from .cutouts import CutoutFlag
    from .io.ds9 import UNCERTAIN_QUALITY, uncertain_sources

    uncertain = uncertain_sources(catalog)
    has_ood = 'ood_score' in catalog.colnames
    if uncertain is None and not has_ood:
        return []
    classified = ~np.ma.getmaskarray(classes)
    flags = np.ma.getdata(catalog['starcnet_flags']).astype(int)
    ood = classified & ((flags & CutoutFlag.OUT_OF_DISTRIBUTION) != 0)
    off = classified & ((flags & CutoutFlag.OFF_CENTRE) != 0)
    has_centre = 'centre_threshold' in catalog.meta.get('starcnet', {}).get('ood', {})
    lines = []
    if uncertain is not None:
        confident = classified & ~uncertain & ~ood & ~off
        lines.append(f'  confident: {int(np.count_nonzero(confident))}')
        lines.append(f'  uncertain (class_quality < {UNCERTAIN_QUALITY:g}): '
                     f'{int(np.count_nonzero(uncertain))}')
    if has_ood:
        lines.append(f'  out of distribution (OUT_OF_DISTRIBUTION flag): '
                     f'{int(np.count_nonzero(ood))}')
    if has_centre:
        lines.append(f'  no source at the position (OFF_CENTRE flag): '
                     f'{int(np.count_nonzero(off))}')
    if uncertain is None:
        # without samples there is no measure of the model's own doubt:
        # "not flagged" is not "confident"
        lines.append('  (confident / uncertain: run with --uncertainty mc_dropout, '
                     'or --model sim-small-v3-ensemble)')
    return lines


def _read_sources(args):
    from .io import read_sources

    try:
        return read_sources(args.catalog, format=args.catalog_format)
    except (OSError, ValueError) as exc:
        msg = f'cannot read the catalog {args.catalog}: {exc}'
        raise CLIError(msg) from exc


def cmd_classify(args):
    from .classifier import StarClusterClassifier
    from .detection import find_candidates
    from .images import MultiBandImage
    from .io import write_catalog, write_regions

    if bool(args.catalog) == bool(args.detect):
        msg = 'give a source catalog with --catalog, or --detect to find sources'
        raise CLIError(msg)
    band_paths = _band_paths(args.bands)
    _check_paths([('--output', args.output), ('--regions', args.regions)],
                 [('--catalog', args.catalog),
                  *((f'band {band}', path) for band, path in band_paths.items())])
    _check_outputs([args.output, args.regions], args.overwrite)
    image = MultiBandImage.read(band_paths, hdu=args.hdu)
    if args.catalog:
        sources = _read_sources(args)
    else:
        sources = find_candidates(image, args.detect_band, fwhm=args.fwhm,
                                  nsigma=args.nsigma)
        log.info('DAOStarFinder found %d sources in %s', len(sources), args.detect_band)
    clf = StarClusterClassifier(args.model, device=args.device,
                                batch_size=args.batch_size,
                                uncertainty=args.uncertainty, n_samples=args.n_samples,
                                seed=args.seed)
    catalog = clf(image, sources, progress_bar=_show_progress(args))
    write_catalog(catalog, args.output, format=args.format, overwrite=args.overwrite)
    log.info('wrote %s (%d sources)', args.output, len(catalog))
    if args.regions:
        write_regions(clf.to_regions(catalog), args.regions, overwrite=args.overwrite)
        log.info('wrote %s', args.regions)
    print(_summary(catalog))
    if args.samp:
        _send(catalog, args.regions)


def _send(catalog, regions):
    try:
        from .io.samp import send
        sent = send(catalog, regions)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    print(f"sent the catalog over SAMP to {len(sent['table.load.votable'])} "
          'application(s)' + (f", the regions to {len(sent['ds9.set'])} DS9(s)"
                              if 'ds9.set' in sent else ''))


def cmd_demo(args):
    from .simulation.demo import demo_paths, run_demo

    _check_outputs(demo_paths(args.output_dir).values(), args.overwrite)
    result = run_demo(args.output_dir, model=args.model, size=args.size,
                      seed=args.seed, nsigma=args.nsigma, device=args.device,
                      batch_size=args.batch_size, overwrite=args.overwrite,
                      progress_bar=_show_progress(args))
    print(_summary(result.catalog))
    print(result.summary())
    print(f"outputs: {result.paths['catalog']}, {result.paths['regions']}")


def cmd_plot(args):
    from .io._atomic import atomic_write
    from .images import MultiBandImage
    from .io import read_catalog

    try:
        import matplotlib
    except ImportError:
        msg = 'starcnet plot needs matplotlib: pip install matplotlib'
        raise CLIError(msg) from None
    if 'matplotlib.pyplot' not in sys.modules:
        # files only, never a window
        matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from . import visualization as viz

    try:
        catalog = read_catalog(args.catalog)
    except Exception as exc:
        msg = f'cannot read the catalog {args.catalog}: {exc}'
        raise CLIError(msg) from exc
    if 'cluster_class' not in catalog.colnames:
        msg = (f'{args.catalog} has no cluster_class column; classify it first '
               '(starcnet classify)')
        raise CLIError(msg)
    if args.truth_column and args.truth_column not in catalog.colnames:
        msg = (f'{args.catalog} has no column {args.truth_column!r} for '
               f'--truth-column; it has {", ".join(catalog.colnames)}')
        raise CLIError(msg)
    prefix = args.prefix or os.path.splitext(os.path.basename(args.catalog))[0]
    names = ['probabilities']
    if args.bands:
        names = ['rgb', 'gallery', *names]
    else:
        log.info('no band images given: plotting the probabilities only')
    if args.truth_column:
        names.append('confusion')
    os.makedirs(args.output_dir, exist_ok=True)
    paths = {name: os.path.join(args.output_dir, f'{prefix}_{name}.png')
             for name in names}
    band_paths = _band_paths(args.bands) if args.bands else {}
    _check_paths(paths.items(), [('--catalog', args.catalog),
                                 *((f'band {b}', p) for b, p in band_paths.items())])
    _check_outputs(paths.values(), args.overwrite)
    image = MultiBandImage.read(band_paths, hdu=args.hdu) if args.bands else None

    figures = {
        'rgb': lambda: viz.plot_rgb(image, catalog).figure,
        'gallery': lambda: viz.plot_cutout_gallery(image, catalog,
                                                   n_per_class=args.n_per_class),
        'probabilities': lambda: viz.plot_probability_histograms(catalog),
        'confusion': lambda: viz.plot_confusion_matrix(
            catalog[args.truth_column], catalog['cluster_class']).figure,
    }
    for name, path in paths.items():
        fig = figures[name]()
        try:
            atomic_write(path, lambda tmp, fig=fig: fig.savefig(tmp, format='png', dpi=args.dpi),
                         overwrite=args.overwrite, suffix='.png')
        finally:
            plt.close(fig)
        print(path)


def cmd_models(args):
    from .models import registry

    if args.action == 'list':
        for name in registry.list_models():
            info = registry.get_model_info(name)
            where = 'bundled' if info.kind == 'bundled' else (
                'cached' if registry.is_cached(name) else 'not downloaded')
            default = ' (default)' if name == _default_model() else ''
            print(f'{name:16s} {where:15s} {info.description}{default}')
        return
    if not args.name:
        msg = f'starcnet models {args.action} needs a model name'
        raise CLIError(msg)
    if args.action == 'show':
        info = registry.get_model_info(args.name)
        for field in ('name', 'description', 'kind', 'format', 'sha256', 'size',
                      'url', 'filename', 'config', 'bands', 'normalization',
                      'classes', 'license', 'citation'):
            value = getattr(info, field, None)
            if value not in (None, '', (), []):
                print(f'{field:14s} {value}')
    elif args.action == 'fetch':
        path = registry.get_model_path(args.name, progress=not args.quiet)
        print(path)
    elif args.action == 'import':
        if not args.path:
            msg = 'starcnet models import needs NAME and the PATH of a local copy'
            raise CLIError(msg)
        registry.import_model_file(args.name, args.path)
        print(f'{args.name}: imported {args.path} into the astropy cache')


def cmd_train(args):
    from .images import MultiBandImage
    from .training import cutouts_from_catalog, fit, save_trained

    band_paths = _band_paths(args.bands)
    _check_paths([('--output', args.output)],
                 [('--catalog', args.catalog), ('--base-model', args.base_model),
                  *((f'band {band}', path) for band, path in band_paths.items())])
    _check_outputs([args.output], args.overwrite)
    image = MultiBandImage.read(band_paths, hdu=args.hdu)
    name = os.fspath(args.catalog)
    table = _read_sources(args)
    bands = None
    if args.base_model:
        from .models.registry import get_model_info, list_models

        if args.base_model in list_models():
            bands = get_model_info(args.base_model).bands
    data = cutouts_from_catalog(image, table, class_column=args.class_column,
                                bands=bands)
    log.info('%d labelled candidates; dropped %s', len(data.labels),
             ', '.join(f'{k}: {v}' for k, v in data.dropped.items()))
    freeze = tuple(f for item in args.freeze for f in item.split(',') if f)
    result = fit(data.cutouts, data.labels, model=args.base_model, width=args.width,
                 epochs=args.epochs, batch_size=args.batch_size,
                 learning_rate=args.learning_rate, val_fraction=args.val_fraction,
                 patience=args.patience, freeze=freeze, seed=args.seed,
                 device=args.device, progress_bar=_show_progress(args))
    result.metadata['training']['catalog'] = os.path.basename(name)
    result.metadata['training']['class_column'] = args.class_column
    result.metadata['training']['dropped'] = data.dropped
    save_trained(result, args.output, name=args.name, overwrite=args.overwrite)
    t = result.metadata['training']
    val = ('no validation split' if t['val_accuracy'] is None
           else f"validation accuracy {t['val_accuracy']:.3f} "
                f"(best epoch {t['best_epoch']} of {t['epochs_run']} run)")
    lines = [f"trained on {t['n_train']} candidates, validated on {t['n_val']}"
             f" (dropped: {', '.join(f'{k} {v}' for k, v in data.dropped.items())})",
             f"base model: {t['base_model'] or 'none (from scratch)'}; {val}"]
    if t.get('initial_val_accuracy') is not None:
        lines.append(f"validation accuracy of the base model: {t['initial_val_accuracy']:.3f}")
    lines.append(f'wrote {args.output}')
    print('\n'.join(lines))


def cmd_review(args):
    from .images import MultiBandImage
    from .review.server import _require_flask, serve_review

    try:
        _require_flask()
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    band_paths = _band_paths(args.bands)
    image = MultiBandImage.read(band_paths, hdu=args.hdu)
    with _interrupt_on_sigterm():
        serve_review(args.catalog, image, reviewer=args.reviewer, journal=args.journal,
                     labels_out=args.labels_out, port=args.port, queue=args.queue,
                     seed=args.seed, open_browser=not args.no_browser)


@contextlib.contextmanager
def _interrupt_on_sigterm():
    """
    SIGTERM (``kill``, a service manager) and SIGINT stop the command as
    Ctrl-C does, also where the shell started it with SIGINT ignored (a
    background job), so that it shuts down cleanly; the handlers are
    restored afterwards.  Only for commands run from `main` (the process
    is ours); the library never installs signal handlers.
    """
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _default_model():
    from . import conf

    return conf.default_model


def cmd_classify_many(args):
    try:
        from .distributed import classify_galaxies, read_galaxy_list
        galaxies = read_galaxy_list(args.galaxies)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    for galaxy in galaxies:
        if galaxy['output'] is None:
            galaxy['output'] = os.path.join(args.output_dir,
                                            f"{galaxy['name']}_starcnet.ecsv")
    os.makedirs(args.output_dir, exist_ok=True)
    paths = classify_galaxies(
        galaxies, model=args.model, device=args.device,
        batch_size=args.batch_size, precision=args.precision,
        uncertainty=args.uncertainty, n_samples=args.n_samples, seed=args.seed,
        overwrite=args.overwrite, scheduler=args.scheduler,
        n_workers=args.workers, threads_per_worker=args.threads_per_worker)
    for galaxy, path in zip(galaxies, paths):
        log.info('%s: wrote %s', galaxy['name'], path)
    print(f'{len(paths)} galaxies classified')


def _parser():
    parser = argparse.ArgumentParser(
        prog='starcnet',
        description='Classify star-cluster candidates in multi-band HST images '
                    'with StarcNet (Pérez et al. 2021).')
    parser.add_argument('--quiet', '-q', action='store_true',
                        help='print only results and errors')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('classify', help='classify sources in a 5-band image',
                       description='Classify candidates in five aligned band images '
                                   '(FITS, e-/s) and write an ECSV or VOTable '
                                   'catalog, optionally DS9 regions, and send '
                                   'them to TOPCAT and DS9 over SAMP.')
    p.add_argument('bands', nargs='+', metavar='BAND=FILE',
                   help='one FITS file per band, e.g. F275W=f275w_drc.fits')
    p.add_argument('--catalog', help='source table with x_centroid/y_centroid, '
                   'xcentroid/ycentroid or x/y (0-based pixels): ECSV, VOTable, '
                   'LEGUS .tab, Source Extractor, or any format astropy reads')
    _catalog_format(p)
    p.add_argument('--detect', action='store_true',
                   help='find sources with photutils DAOStarFinder instead')
    p.add_argument('--detect-band', default='F555W', help='band to detect in')
    p.add_argument('--fwhm', type=float, default=2.0, help='DAOStarFinder FWHM (px)')
    p.add_argument('--nsigma', type=float, default=5.0,
                   help='detection threshold in noise sigmas')
    p.add_argument('--hdu', default=None,
                   help='HDU (number or name) holding the image in every file')
    _common(p)
    _uncertainty_options(p)
    p.add_argument('--output', '-o', required=True,
                   help='output catalog: VOTable for .vot/.xml, else ECSV')
    p.add_argument('--format', choices=['ecsv', 'votable'], default=None,
                   help='format of --output, whatever its name')
    p.add_argument('--regions', '-r', help='output DS9 region file')
    p.add_argument('--samp', action='store_true',
                   help='send the catalog to TOPCAT (and the regions to DS9) '
                        'through the running SAMP hub (needs pyvo)')
    p.add_argument('--overwrite', action='store_true', help='replace existing outputs')
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser('demo', help='run the whole pipeline on a simulated scene, offline',
                       description='Simulate a 5-band LEGUS-like scene, detect '
                                   'sources, classify them with the bundled model '
                                   'and write FITS, ECSV and DS9 files.')
    p.add_argument('--output-dir', '-o', default='starcnet-demo',
                   help='folder for the outputs (default: ./starcnet-demo)')
    p.add_argument('--size', type=int, default=512, help='scene side in pixels')
    p.add_argument('--seed', type=int, default=1, help='random seed of the scene')
    p.add_argument('--nsigma', type=float, default=5.0,
                   help='detection threshold in noise sigmas')
    _common(p)
    p.add_argument('--overwrite', action='store_true', help='replace existing outputs')
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser('plot', help='figures to check a classified catalog by eye',
                       description='Draw PNG figures of a classified catalog: '
                                   'a colour image with the sources circled by '
                                   'class, a cutout gallery per class (both need '
                                   'the band images), probability histograms and, '
                                   'with --truth-column, a confusion matrix.')
    p.add_argument('bands', nargs='*', metavar='BAND=FILE',
                   help='FITS file per band, e.g. F814W=f814w_drc.fits; the '
                        'colour image and gallery use F814W, F555W and F336W')
    p.add_argument('--catalog', '-c', required=True,
                   help='ECSV catalog written by starcnet classify')
    p.add_argument('--truth-column', default=None,
                   help='catalog column with human classes (1-4) for a '
                        'confusion matrix')
    p.add_argument('--output-dir', '-o', default='.',
                   help='folder for the PNG files (default: .)')
    p.add_argument('--prefix', default=None,
                   help='file name prefix (default: the catalog name)')
    p.add_argument('--n-per-class', type=int, default=10,
                   help='cutouts per class in the gallery')
    p.add_argument('--dpi', type=int, default=120, help='PNG resolution')
    p.add_argument('--hdu', default=None,
                   help='HDU (number or name) holding the image in every file')
    p.add_argument('--overwrite', action='store_true', help='replace existing files')
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser('models', help='list, show, fetch or import models',
                       description='Named models: the bundled default and the '
                                   'published StarcNet weights (legus-2021), '
                                   "kept in astropy's download cache.")
    p.add_argument('action', choices=['list', 'show', 'fetch', 'import'])
    p.add_argument('name', nargs='?', help='model name')
    p.add_argument('path', nargs='?', help='local weights file (for import)')
    p.set_defaults(func=cmd_models)

    p = sub.add_parser('train', help='train or fine-tune a model on a labelled catalog',
                       description='Train a StarcNet model from scratch, or fine-tune '
                                   'a registered model or weights file, on the '
                                   'labelled candidates of a catalog (ECSV or any '
                                   'astropy format; a LEGUS .tab file is read with '
                                   'read_legus) in five band images, and save it '
                                   'as a safetensors file for --model.')
    p.add_argument('bands', nargs='+', metavar='BAND=FILE',
                   help='one FITS file per band, e.g. F275W=f275w_drc.fits')
    p.add_argument('--catalog', '-c', required=True,
                   help='labelled catalog with 0-based x/y (or x_centroid/y_centroid) '
                        'pixel positions; LEGUS .tab files are read with read_legus')
    _catalog_format(p)
    p.add_argument('--class-column', default='human_class',
                   help='column with the classes 1-4 (default: %(default)s); '
                        'masked or 0 = unlabelled')
    p.add_argument('--base-model', default=None,
                   help='model name or weights file to fine-tune (default: train '
                        'from scratch)')
    p.add_argument('--width', type=int, default=16,
                   help='feature width of a new network (default: %(default)s)')
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--learning-rate', type=float, default=None,
                   help='peak learning rate (default: 2e-3, or 5e-4 to fine-tune)')
    p.add_argument('--val-fraction', type=float, default=0.1)
    p.add_argument('--patience', type=int, default=None,
                   help='stop after this many epochs without improvement')
    p.add_argument('--freeze', action='append', default=[],
                   help='network part not to train: full, middle, small, convs, '
                        'branches or head (repeat, or separate with commas)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu' or 'cuda'")
    p.add_argument('--name', default=None, help='model name stored in the file')
    p.add_argument('--hdu', default=None,
                   help='HDU (number or name) holding the image in every file')
    p.add_argument('--output', '-o', required=True, help='output .safetensors file')
    p.add_argument('--overwrite', action='store_true', help='replace an existing file')
    p.set_defaults(func=cmd_train)

    p = sub.add_parser('review', help='label candidates by eye in a local web page',
                       description='Serve a review page on 127.0.0.1 (with a random '
                                   'token in its address) showing each candidate\'s '
                                   'colour and band cutouts and the model\'s classes; '
                                   'keys 1-4 label, S skips, U marks unsure.  Every '
                                   'label goes to the reviewer\'s journal at once and '
                                   'into a labelled catalog (human_class column, for '
                                   'starcnet train).  Needs Flask: pip install '
                                   'starcnet[review].')
    p.add_argument('catalog', help='catalog to review (ECSV or VOTable from starcnet '
                                   'classify); never written')
    p.add_argument('bands', nargs='+', metavar='BAND=FILE',
                   help='one FITS file per band, e.g. F275W=f275w_drc.fits')
    p.add_argument('--reviewer', required=True, help='your name, recorded with each label')
    p.add_argument('--journal', default=None,
                   help='label journal (default: CATALOG-STEM.REVIEWER.labels.jsonl)')
    p.add_argument('--labels-out', default=None,
                   help='labelled catalog (default: CATALOG-STEM.REVIEWER.labels.ecsv)')
    p.add_argument('--port', type=int, default=0,
                   help='port on 127.0.0.1 (default: a free one)')
    p.add_argument('--queue', default='priority',
                   help='queue the page opens with: priority (default), uncertainty, '
                        'class1 to class4, unclassified, position, random or catalog')
    p.add_argument('--seed', type=int, default=0, help='seed of the random queue')
    p.add_argument('--hdu', default=None,
                   help='HDU (number or name) holding the image in every file')
    p.add_argument('--no-browser', action='store_true',
                   help='only print the address; do not open a browser')
    p.set_defaults(func=cmd_review)
    p = sub.add_parser('classify-many', help='classify the galaxies of a list with Dask',
                       description='Classify every galaxy of a galaxy list (JSON or '
                                   'ECSV: bands, catalog and output per galaxy) in '
                                   'parallel with dask.distributed, on a local '
                                   'cluster or an existing scheduler.')
    p.add_argument('galaxies', help='galaxy list file (.json or .ecsv)')
    p.add_argument('--output-dir', '-o', default='.',
                   help='folder for the catalogs of galaxies without an "output" '
                        '(written as NAME_starcnet.ecsv; default: .)')
    p.add_argument('--scheduler', default=None,
                   help='Dask scheduler address (tcp://host:8786) or scheduler '
                        'file (.json); default: a local cluster')
    p.add_argument('--workers', type=int, default=None,
                   help='worker processes of the local cluster (default: one per core)')
    p.add_argument('--threads-per-worker', type=int, default=1,
                   help='threads per worker process of the local cluster')
    p.add_argument('--precision', choices=['float32', 'bfloat16', 'float16'],
                   default='float32', help='network arithmetic (default float32)')
    _common(p)
    _uncertainty_options(p)
    p.add_argument('--overwrite', action='store_true', help='replace existing outputs')
    p.set_defaults(func=cmd_classify_many)
    return parser


def _uncertainty_options(p):
    p.add_argument('--uncertainty', choices=['mc_dropout', 'ensemble'], default=None,
                   help='per-source uncertainty: Monte Carlo dropout, N-SAMPLES '
                        'network passes, or the members of an ensemble model (the '
                        'default for one, at no extra cost); adds prob_std_class1..4, '
                        'entropy, mutual_information and class_quality columns')
    p.add_argument('--n-samples', type=int, default=16,
                   help='Monte Carlo dropout passes per source (default 16)')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the Monte Carlo dropout masks (default 0)')


def _catalog_format(p):
    p.add_argument('--catalog-format', default=None,
                   help="format of --catalog: legus, sextractor, ecsv, votable or "
                        "an astropy format such as 'ascii.csv' (default: from "
                        'the name and first bytes)')


def _common(p):
    p.add_argument('--model', '-m', default=None,
                   help='model name or weights file (default: the bundled model)')
    p.add_argument('--device', default=None, help="'auto', 'cpu' or 'cuda'")
    p.add_argument('--batch-size', type=int, default=None,
                   help='cutouts per network call')


def main(argv=None):
    """
    Run the ``starcnet`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 1 on an error.
    """
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter('%(message)s'))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    # The command owns its process: the opt-in glibc settings that make
    # the network faster on a CPU (off with starcnet.conf.tune_malloc).
    from .utils import large_cpu_buffers

    try:
        with large_cpu_buffers():
            args.func(args)
    except (CLIError, ValueError, OSError, RuntimeError, KeyError) as exc:
        print(f'starcnet: error: {exc}', file=sys.stderr)
        return 1
    finally:
        log.removeHandler(handler)
    return 0


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
