# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Figures to check a classification by eye: a colour image with the
candidates marked by class, galleries of cutouts per class, probability
histograms, and against human labels a confusion matrix, a reliability
diagram and an error-retention curve.

matplotlib is an optional dependency (``pip install matplotlib``); it is
imported only when a function here is called.
"""

import textwrap

import numpy as np

from .cutouts import CUTOUT_SIZE, image_cutouts, table_positions
from .images import BAND_EQUIVALENTS, MultiBandImage
from .metrics import CLASS_NAMES, LEGUS_CLASSES, confusion_matrix, reliability_curve
from .io.ds9 import CLASS_COLORS

__all__ = ['RGB_BANDS', 'plot_rgb', 'plot_cutout_gallery',
           'plot_probability_histograms', 'plot_confusion_matrix',
           'plot_reliability_diagram', 'plot_error_retention']

#: Default bands shown as red, green and blue.
RGB_BANDS = ('F814W', 'F555W', 'F336W')

# The DS9 colours of CLASS_COLORS are made for dark images; on the white
# background of a histogram some (yellow, cyan) are hard to see, so
# those plots use darker shades of the same hues.
_ON_WHITE = {'green': '#2ca02c', 'cyan': '#17a2b8', 'yellow': '#c99a00',
             'red': '#d62728', 'magenta': '#b5179e'}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        msg = 'starcnet.visualization needs matplotlib: pip install matplotlib'
        raise ImportError(msg) from None
    return plt


def _class_names(catalog=None):
    names = dict(CLASS_NAMES)
    meta = getattr(catalog, 'meta', None) or {}
    listed = meta.get('starcnet', {}).get('class_names')
    if listed and len(listed) == len(LEGUS_CLASSES):
        names = dict(zip(LEGUS_CLASSES, listed))
    return names


def _on_white(cls):
    color = CLASS_COLORS[cls]
    return _ON_WHITE.get(color, color)


def _classes(catalog):
    """
    Predicted classes as an int array, 0 where not classified.
    """
    if 'cluster_class' not in catalog.colnames:
        msg = ("the catalog has no 'cluster_class' column; classify it with "
               'StarClusterClassifier first')
        raise ValueError(msg)
    classes = np.ma.asarray(catalog['cluster_class'])
    return np.where(np.ma.getmaskarray(classes), 0,
                    np.ma.getdata(classes)).astype(int)


def _probabilities(catalog, name):
    values = np.ma.asarray(catalog[name])
    return np.where(np.ma.getmaskarray(values), np.nan,
                    np.ma.getdata(values)).astype(float)


def _ids(catalog):
    if 'id' in catalog.colnames:
        return [str(v) for v in np.ma.getdata(np.ma.asarray(catalog['id']))]
    return [str(i) for i in range(len(catalog))]


def _band_pixels(image, bands):
    """
    Arrays (as stored) and e-/s factors of some bands, accepting the
    equivalent filters of `~starcnet.images.BAND_EQUIVALENTS` silently.
    """
    if isinstance(bands, str):
        bands = (bands,)
    used = []
    for band in bands:
        candidates = (band.upper(), *BAND_EQUIVALENTS.get(band.upper(), ()))
        found = [b for b in candidates if b in image.bands]
        if not found:
            msg = (f'the image has no band {band} to show (it has '
                   f'{", ".join(image.bands)}); choose others with bands=')
            raise ValueError(msg)
        used.append(found[0])
    arrays, _, scales = image.band_arrays(used)
    return used, arrays, scales


def _region(region, shape):
    ny, nx = shape
    if region is None:
        return 0, nx, 0, ny
    try:
        x0, x1, y0, y1 = (int(round(v)) for v in region)
    except (TypeError, ValueError):
        msg = f'region must be (xmin, xmax, ymin, ymax) in pixels, got {region!r}'
        raise ValueError(msg) from None
    x0, x1 = max(x0, 0), min(x1, nx)
    y0, y1 = max(y0, 0), min(y1, ny)
    if x1 <= x0 or y1 <= y0:
        msg = f'region {region!r} does not overlap the {nx}x{ny} image'
        raise ValueError(msg)
    return x0, x1, y0, y1


def _sky_and_noise(plane):
    """
    Sky level (median) and noise (MAD standard deviation) of an image,
    from at most about 256x256 of its pixels.
    """
    from astropy.stats import mad_std

    sample = plane[::max(1, plane.shape[0] // 256), ::max(1, plane.shape[1] // 256)]
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0, 1.0
    sky, noise = float(np.median(sample)), float(mad_std(sample))
    return sky, noise if noise > 0 else 1.0


def plot_rgb(image, catalog=None, *, bands=RGB_BANDS, stretch='asinh',
             region=None, radius=6.0, max_pixels=2048, ax=None, legend=True,
             title=None):
    """
    A colour composite of three bands with the candidates circled by class.

    Parameters
    ----------
    image : `~starcnet.MultiBandImage`, dict or list
        The bands (anything `~starcnet.MultiBandImage` takes).
    catalog : `~astropy.table.Table`, optional
        A catalog classified by `~starcnet.StarClusterClassifier`: each
        source is circled in its class colour (`~starcnet.io.ds9.CLASS_COLORS`,
        the DS9 colours: green, cyan, yellow and red for classes 1-4,
        magenta for sources that were not classified).  A table without
        ``cluster_class`` (e.g. straight from a finder) is drawn in white.
    bands : sequence of 3 str, optional
        The bands shown as red, green and blue.  F606W stands in for
        F555W and F435W for F438W when the image has those instead.
    stretch : {'asinh', 'lupton'}, optional
        ``'asinh'``: each band scaled to its own sky level and bright
        pixels, then `~astropy.visualization.AsinhStretch`
        (`~astropy.visualization.make_rgb`); ``'lupton'``: the
        colour-preserving stretch of Lupton et al. (2004)
        (`~astropy.visualization.make_lupton_rgb`) on the same scaled
        bands, which keeps the colours of bright sources.
    region : tuple, optional
        ``(xmin, xmax, ymin, ymax)``, 0-based pixels, to show part of a
        large mosaic; only the sources inside it are drawn.
    radius : float, optional
        Circle radius in pixels.
    max_pixels : int, optional
        Images larger than this on a side are shown with every k-th
        pixel (read that way from memory-mapped files); the axes stay in
        the pixel coordinates of the full image.
    ax : `~matplotlib.axes.Axes`, optional
        Where to draw; default a new figure.
    legend : bool, optional
        Add a legend with the number of sources of each class.
    title : str, optional
        Axes title; default the bands shown.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
    """
    plt = _pyplot()
    from matplotlib.collections import EllipseCollection
    from matplotlib.lines import Line2D
    from astropy.visualization import (AsinhStretch, ManualInterval, make_lupton_rgb,
                                       make_rgb)

    if stretch not in ('asinh', 'lupton'):
        msg = f"stretch must be 'asinh' or 'lupton', got {stretch!r}"
        raise ValueError(msg)
    if isinstance(bands, str) or len(bands) != 3:
        msg = f'bands must name three bands (red, green, blue), got {bands!r}'
        raise ValueError(msg)
    if not isinstance(image, MultiBandImage):
        image = MultiBandImage(image)
    used, arrays, scales = _band_pixels(image, bands)
    x0, x1, y0, y1 = _region(region, image.shape)
    step = max(1, int(np.ceil(max(x1 - x0, y1 - y0) / max_pixels)))
    planes = []
    for data, scale in zip(arrays, scales):
        plane = np.asarray(data[y0:y1:step, x0:x1:step], dtype=np.float32) * scale
        # in units of the band's noise above its sky
        sky, noise = _sky_and_noise(plane)
        plane = np.nan_to_num((plane - sky) / noise, nan=0.0, posinf=0.0, neginf=0.0)
        planes.append(plane)
    if stretch == 'asinh':
        rgb = make_rgb(*planes, interval=ManualInterval(vmin=-1.0, vmax=500.0),
                       stretch=AsinhStretch(a=0.003))
    else:
        rgb = make_lupton_rgb(*planes, minimum=-1.0, stretch=20.0, Q=8)

    if ax is None:
        fig = plt.figure(figsize=(9.5, 7 * (y1 - y0) / (x1 - x0) + 0.5),
                         layout='constrained')
        ax = fig.add_subplot()
    # pixel (i, j) of the strided image covers full-image pixels
    # x0 + j*step - 0.5 ... x0 + (j+1)*step - 0.5
    ny, nx = rgb.shape[:2]
    ax.imshow(rgb, origin='lower', interpolation='nearest',
              extent=(x0 - 0.5, x0 + nx * step - 0.5, y0 - 0.5, y0 + ny * step - 0.5))
    ax.set_xlim(x0 - 0.5, x1 - 0.5)
    ax.set_ylim(y0 - 0.5, y1 - 0.5)
    ax.set_xlabel('x (pixel)')
    ax.set_ylabel('y (pixel)')
    ax.set_title(title if title is not None else
                 f'R={used[0]}  G={used[1]}  B={used[2]}')
    if catalog is None:
        return ax

    x, y = table_positions(catalog, 'catalog')
    inside = (x >= x0 - 0.5) & (x < x1 - 0.5) & (y >= y0 - 0.5) & (y < y1 - 0.5)
    if 'cluster_class' in catalog.colnames:
        classes = _classes(catalog)
        names = _class_names(catalog)
        groups = [(k, CLASS_COLORS[k], f'{k} {names[k]}') for k in LEGUS_CLASSES]
        groups.append((0, CLASS_COLORS[None], 'not classified'))
    else:
        classes = np.zeros(len(x), dtype=int)
        groups = [(0, 'white', 'candidates')]
    handles = []
    for cls, color, label in groups:
        sel = inside & (classes == cls)
        n = int(np.count_nonzero(sel))
        if n == 0 and cls == 0:
            continue
        diameter = np.full(n, 2.0 * radius)
        circles = EllipseCollection(
            diameter, diameter, np.zeros(n), units='xy',
            offsets=np.column_stack([x[sel], y[sel]]), offset_transform=ax.transData,
            facecolors='none', edgecolors=color, linewidths=1.0)
        circles.set_label(f'{label} ({n})')
        circles.set_gid(f'starcnet-class-{cls}')
        ax.add_collection(circles)
        handles.append(Line2D([], [], ls='none', marker='o', markersize=9,
                              markerfacecolor='none', markeredgecolor=color,
                              markeredgewidth=1.5, label=f'{label} ({n})'))
    if legend and handles:
        # beside the image, not over sources; dark, for the DS9 colours
        leg = ax.legend(handles=handles, loc='upper left', bbox_to_anchor=(1.02, 1),
                        borderaxespad=0, fontsize='small', facecolor='black',
                        edgecolor='0.5', framealpha=0.85, labelcolor='white',
                        title=f'{int(inside.sum())} sources')
        leg.get_title().set_color('white')
    return ax


def _select(classes, proba, cls, n, sort, rng):
    rows = np.flatnonzero(classes == cls)
    if sort == 'probability':
        rows = rows[np.argsort(-proba[rows], kind='stable')]
    elif sort == 'least':
        rows = rows[np.argsort(proba[rows], kind='stable')]
    else:
        rows = rng.permutation(rows)
    return rows[:n]


def _display_cutouts(cutouts, color):
    """
    Cutouts of shape (N, B, size, size) in e-/s to display images in 0-1:
    (N, size, size, 3) for three bands, (N, size, size) for one.
    """
    from astropy.visualization import AsinhStretch

    n, nb, size, _ = cutouts.shape
    if n == 0:
        return np.zeros((0, size, size, 3) if color else (0, size, size))
    # local background: the median of each band's cutout border
    border = np.concatenate([cutouts[:, :, 0], cutouts[:, :, -1],
                             cutouts[:, :, 1:-1, 0], cutouts[:, :, 1:-1, -1]], axis=2)
    cut = cutouts - np.median(border, axis=2)[:, :, None, None]
    core = cut[:, :, size // 2 - 2:size // 2 + 2, size // 2 - 2:size // 2 + 2]
    peak = core.max(axis=(2, 3))
    if color:
        # one factor per band for all cutouts, so that colours compare
        # between cutouts: a typical source has the same level in each
        balance = np.median(np.where(peak > 0, peak, np.nan), axis=0)
        balance = np.where(np.isfinite(balance) & (balance > 0), balance, 1.0)
        cut = cut / balance[None, :, None, None]
        peak = (core / balance[None, :, None, None]).max(axis=(1, 2, 3))
    else:
        peak = peak[:, 0]
    peak = np.where(peak > 0, peak, 1.0)
    cut = np.clip(cut / peak[:, None, None, None], 0, 1)
    out = AsinhStretch(a=0.05)(cut)
    return np.moveaxis(out, 1, -1) if color else out[:, 0]


def plot_cutout_gallery(image, catalog, *, n_per_class=10, bands=RGB_BANDS,
                        sort='probability', seed=None, size=CUTOUT_SIZE,
                        figsize=None):
    """
    A gallery of cutouts: one row per class, the sources StarcNet put in
    that class.

    Each cutout is shown with its class probability (top left) and its
    ``id`` (bottom left; the row number when the catalog has no ``id``),
    framed in the class colour.  Rows are labelled with the class and
    the number of sources in it.

    Parameters
    ----------
    image : `~starcnet.MultiBandImage`, dict or list
        The bands.
    catalog : `~astropy.table.Table`
        A catalog classified by `~starcnet.StarClusterClassifier`.
    n_per_class : int, optional
        Cutouts per row.
    bands : str or sequence of 3 str, optional
        Three bands (red, green, blue) for colour cutouts, or one band
        for grey ones.  Each cutout is stretched on its own
        (asinh, local background removed); in colour, the bands are
        balanced once for the whole gallery, so colours compare.
    sort : {'probability', 'least', 'random'}, optional
        Which sources of a class to show: the most probable ones (the
        top ``n_per_class`` by that class's probability), the least
        probable ones (the doubtful cases to check first), or a random
        draw (typical members; see ``seed``).
    seed : int, optional
        Random seed for ``sort='random'``.
    size : int, optional
        Cutout side in pixels.
    figsize : tuple, optional
        Figure size in inches; default scales with ``n_per_class``.

    Returns
    -------
    fig : `~matplotlib.figure.Figure`
        With ``4 * n_per_class`` axes, row by row (class 1 first).
    """
    plt = _pyplot()
    from matplotlib import patheffects

    if sort not in ('probability', 'least', 'random'):
        msg = f"sort must be 'probability', 'least' or 'random', got {sort!r}"
        raise ValueError(msg)
    n_per_class = int(n_per_class)
    if n_per_class < 1:
        msg = f'n_per_class must be a positive integer, got {n_per_class}'
        raise ValueError(msg)
    bands = (bands,) if isinstance(bands, str) else tuple(bands)
    if len(bands) not in (1, 3):
        msg = f'bands must be one band or three (red, green, blue), got {bands!r}'
        raise ValueError(msg)
    if not isinstance(image, MultiBandImage):
        image = MultiBandImage(image)
    used = _band_pixels(image, bands)[0]
    classes = _classes(catalog)
    names = _class_names(catalog)
    x, y = table_positions(catalog, 'catalog')
    ids = _ids(catalog)
    rng = np.random.default_rng(seed)
    chosen = {k: _select(classes, _probabilities(catalog, f'prob_class{k}'), k,
                         n_per_class, sort, rng) for k in LEGUS_CLASSES}
    rows = np.concatenate([chosen[k] for k in LEGUS_CLASSES]).astype(int)
    cutouts = image_cutouts(image, x[rows], y[rows], bands=used, size=size,
                            max_bad_fraction=1.0, use_masks=False)[0]
    shown = _display_cutouts(cutouts, color=len(used) == 3)

    if figsize is None:
        figsize = (1.9 + 1.05 * n_per_class, 0.7 + 4 * 1.1)
    fig = plt.figure(figsize=figsize)
    axes = fig.subplots(len(LEGUS_CLASSES), n_per_class, squeeze=False,
                        gridspec_kw={'wspace': 0.06, 'hspace': 0.12, 'left': 1.8 / figsize[0],
                                     'right': 1 - 0.1 / figsize[0], 'bottom': 0.1 / figsize[1],
                                     'top': 1 - 0.55 / figsize[1]})
    outline = [patheffects.withStroke(linewidth=2, foreground='black')]
    what = {'probability': 'most probable', 'least': 'least probable',
            'random': 'random'}[sort]
    fig.suptitle(f'StarcNet classes: {what} members '
                 f'({"/".join(used) if len(used) == 3 else used[0]})',
                 y=1 - 0.12 / figsize[1], va='top')
    index = 0
    for r, k in enumerate(LEGUS_CLASSES):
        n_class = int(np.count_nonzero(classes == k))
        proba = _probabilities(catalog, f'prob_class{k}')
        for c in range(n_per_class):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color(_on_white(k))
                spine.set_linewidth(2)
            if c == 0:
                ax.set_ylabel(f'{k}: {textwrap.fill(names[k], 12)}\n{n_class} sources',
                              rotation=0, ha='right', va='center', fontsize='medium',
                              color=_on_white(k))
            if c >= len(chosen[k]):
                for spine in ax.spines.values():
                    spine.set_visible(False)
                continue
            row = chosen[k][c]
            ax.imshow(shown[index], origin='lower', cmap=None if len(used) == 3 else 'gray',
                      interpolation='nearest', vmin=0, vmax=1)
            ax.text(0.04, 0.96, f'{proba[row]:.2f}', transform=ax.transAxes,
                    ha='left', va='top', color='white', fontsize='small',
                    path_effects=outline)
            ax.text(0.04, 0.03, f'#{ids[row]}', transform=ax.transAxes,
                    ha='left', va='bottom', color='white', fontsize='x-small',
                    path_effects=outline)
            index += 1
    return fig


def plot_probability_histograms(catalog, *, bins=20, log=False, figsize=(11, 6.5)):
    """
    Histograms of the class probabilities, stacked by predicted class.

    One panel per class (``prob_class1`` ... ``prob_class4``) and one
    for ``prob_cluster`` (classes 1 + 2, the paper's cluster /
    non-cluster split).  The bars are coloured by the class StarcNet
    chose, so a panel shows both how confident the chosen members of a
    class are (at high probability) and how often other sources were
    close to it.  Sources that were not classified are left out.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        A catalog classified by `~starcnet.StarClusterClassifier`.
    bins : int, optional
        Number of bins between 0 and 1.
    log : bool, optional
        Logarithmic counts.
    figsize : tuple, optional
        Figure size in inches.

    Returns
    -------
    fig : `~matplotlib.figure.Figure`
        Five histogram axes and a sixth holding the legend.
    """
    plt = _pyplot()
    from matplotlib.patches import Patch

    classes = _classes(catalog)
    names = _class_names(catalog)
    edges = np.linspace(0, 1, int(bins) + 1)
    fig, axes = plt.subplots(2, 3, figsize=figsize, layout='constrained')
    axes = axes.ravel()
    columns = [f'prob_class{k}' for k in LEGUS_CLASSES] + ['prob_cluster']
    titles = [f'class {k}: {names[k]}' for k in LEGUS_CLASSES] + ['cluster (class 1 + 2)']
    classified = classes > 0
    colors = [_on_white(k) for k in LEGUS_CLASSES]
    for ax, column, title in zip(axes, columns, titles):
        values = _probabilities(catalog, column)
        ax.hist([values[classified & (classes == k)] for k in LEGUS_CLASSES], bins=edges,
                stacked=True, color=colors, edgecolor='white', linewidth=0.5,
                log=log)
        ax.set_xlim(0, 1)
        ax.set_title(title)
        ax.set_xlabel(f'{column}')
        ax.set_ylabel('sources')
        if column == 'prob_cluster':
            ax.axvline(0.5, color='0.3', ls='--', lw=1)
    legend_ax = axes[-1]
    legend_ax.set_axis_off()
    counts = [int(np.count_nonzero(classes == k)) for k in LEGUS_CLASSES]
    handles = [Patch(facecolor=c, label=f'{k} {names[k]} ({n})')
               for k, c, n in zip(LEGUS_CLASSES, colors, counts)]
    n_bad = int(np.count_nonzero(~classified))
    legend_ax.legend(handles=handles, loc='center', frameon=False,
                     title=f'class chosen by StarcNet\n'
                           f'({int(classified.sum())} sources; {n_bad} not classified)')
    fig.suptitle('StarcNet class probabilities')
    return fig


def _confusion_counts(true, pred):
    true = np.ma.asarray(true)
    pred = np.ma.asarray(pred)
    if true.shape != pred.shape or true.ndim != 1:
        msg = (f'true and pred must be 1-D and of one length, got shapes '
               f'{true.shape} and {pred.shape}')
        raise ValueError(msg)
    ok = ~(np.ma.getmaskarray(true) | np.ma.getmaskarray(pred))
    t = np.asarray(np.ma.getdata(true))[ok]
    p = np.asarray(np.ma.getdata(pred))[ok]
    try:
        t, p = t.astype(float), p.astype(float)
    except ValueError:
        msg = 'true and pred must hold class numbers 1-4'
        raise ValueError(msg) from None
    ok = np.isin(t, LEGUS_CLASSES) & np.isin(p, LEGUS_CLASSES)
    return confusion_matrix(t[ok].astype(int), p[ok].astype(int), LEGUS_CLASSES)


def plot_confusion_matrix(true=None, pred=None, *, matrix=None, class_names=None,
                          ax=None, cmap='Blues', title=None):
    """
    The confusion matrix of predicted against true (human) classes.

    Each cell gives the number of sources and, below it, the fraction
    of its row (the sources of that true class); the colour shows the
    fraction, so the diagonal reads as the recall of each class.  The
    title gives the 4-class accuracy and the cluster / non-cluster
    (classes 1+2 against 3+4) accuracy.

    Parameters
    ----------
    true, pred : array-like, optional
        True and predicted classes (1-4).  Masked entries and values
        other than 1-4 (e.g. 0 for "not inspected") are left out.
    matrix : array-like, optional
        A 4x4 matrix of counts, rows true and columns predicted classes,
        instead of ``true`` and ``pred``.
    class_names : sequence of 4 str, optional
        Names of classes 1-4; default the LEGUS names.
    ax : `~matplotlib.axes.Axes`, optional
        Where to draw; default a new figure.
    cmap : str, optional
        Colour map of the row fractions.
    title : str, optional
        Axes title; default the accuracies.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
    """
    plt = _pyplot()

    if matrix is None:
        if true is None or pred is None:
            msg = 'give true and pred classes, or a confusion matrix with matrix='
            raise ValueError(msg)
        matrix = _confusion_counts(true, pred)
    elif true is not None or pred is not None:
        msg = 'give either true and pred, or matrix=, not both'
        raise ValueError(msg)
    matrix = np.asarray(matrix)
    if matrix.shape != (len(LEGUS_CLASSES), len(LEGUS_CLASSES)):
        msg = f'matrix must be 4x4 (true x predicted classes 1-4), got shape {matrix.shape}'
        raise ValueError(msg)
    names = dict(zip(LEGUS_CLASSES, class_names)) if class_names is not None else CLASS_NAMES
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        fractions = np.where(totals > 0, matrix / np.where(totals > 0, totals, 1), np.nan)

    if ax is None:
        fig = plt.figure(figsize=(6.4, 5.6), layout='constrained')
        ax = fig.add_subplot()
    im = ax.imshow(fractions, cmap=cmap, vmin=0, vmax=1, origin='upper')
    cbar = ax.figure.colorbar(im, ax=ax, shrink=0.8)
    cbar.set_label('fraction of the true class')
    for i in range(len(LEGUS_CLASSES)):
        for j in range(len(LEGUS_CLASSES)):
            f = fractions[i, j]
            text = f'{matrix[i, j]}' + ('' if np.isnan(f) else f'\n{100 * f:.0f}%')
            ax.text(j, i, text, ha='center', va='center', fontsize='medium',
                    color='white' if np.isfinite(f) and f > 0.55 else 'black')
    labels = [f'{k}\n{textwrap.fill(names[k], 11)}' for k in LEGUS_CLASSES]
    ax.set_xticks(range(len(LEGUS_CLASSES)), labels, fontsize='small')
    ax.set_yticks(range(len(LEGUS_CLASSES)),
                  [f'{k} {textwrap.fill(names[k], 11)}' for k in LEGUS_CLASSES],
                  fontsize='small')
    ax.set_xlabel('StarcNet class')
    ax.set_ylabel('true class')
    total = int(matrix.sum())
    if title is None:
        if total:
            acc = np.trace(matrix) / total
            binary = (matrix[:2, :2].sum() + matrix[2:, 2:].sum()) / total
            title = (f'accuracy {100 * acc:.1f}% (4 classes), '
                     f'{100 * binary:.1f}% (cluster 1+2 vs 3+4)\n{total} sources')
        else:
            title = 'no sources with both a true and a predicted class'
    ax.set_title(title, fontsize='medium')
    return ax


def plot_reliability_diagram(proba=None, true=None, *, curve=None, n_bins=10, ax=None,
                             counts=True, title=None):
    """
    A reliability diagram: accuracy against the top-class probability.

    Bars give the accuracy of the sources in each bin of the top-class
    probability, points the accuracy at the bin's mean probability; a
    calibrated model lies on the diagonal.  The title gives the
    expected calibration error (ECE) and the accuracy.

    Parameters
    ----------
    proba, true : array-like, optional
        ``(N, 4)`` class probabilities and the ``N`` true classes, as for
        `starcnet.metrics.reliability_curve`.
    curve : `~astropy.table.Table`, optional
        A `~starcnet.metrics.reliability_curve` instead of ``proba`` and
        ``true``.
    n_bins : int, optional
        Bins of the top-class probability (with ``proba``).
    ax : `~matplotlib.axes.Axes`, optional
        Where to draw the accuracy; default a new figure.
    counts : bool, optional
        On a new figure, a lower panel with the number of sources per
        bin (ignored with ``ax``).
    title : str, optional
        Axes title, above the ECE and accuracy; say what the model was
        trained on and tested on.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        The accuracy axes.
    """
    plt = _pyplot()

    if curve is None:
        if proba is None or true is None:
            msg = 'give proba and true, or a reliability curve with curve='
            raise ValueError(msg)
        curve = reliability_curve(proba, true, n_bins=n_bins)
    elif proba is not None or true is not None:
        msg = 'give either proba and true, or curve=, not both'
        raise ValueError(msg)
    missing = {'lower', 'upper', 'count', 'confidence', 'accuracy'} - set(curve.colnames)
    if missing:
        msg = (f'curve must be a starcnet.metrics.reliability_curve table; it lacks '
               f'{sorted(missing)}')
        raise ValueError(msg)
    lower, upper = np.asarray(curve['lower'], float), np.asarray(curve['upper'], float)
    count = np.asarray(curve['count'])
    centres, widths = (lower + upper) / 2, 0.9 * (upper - lower)
    ok = count > 0
    count_ax = None
    if ax is None:
        if counts:
            fig, (ax, count_ax) = plt.subplots(
                2, 1, figsize=(4.6, 5.6), sharex=True, layout='constrained',
                gridspec_kw={'height_ratios': [3, 1]})
        else:
            fig, ax = plt.subplots(figsize=(4.6, 4.4), layout='constrained')
    acc = np.asarray(curve['accuracy'], float)
    conf = np.asarray(curve['confidence'], float)
    ax.plot([0, 1], [0, 1], color='0.6', ls='--', lw=1, label='calibrated')
    ax.bar(centres[ok], acc[ok], width=widths[ok], color='#4477aa', alpha=0.8,
           label='accuracy in bin')
    ax.plot(conf[ok], acc[ok], 'o-', color='#cc3311', ms=4,
            label='accuracy at the mean probability')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel('accuracy')
    ax.legend(loc='upper left', fontsize='small', frameon=False)
    n = int(count.sum())
    if n:
        accuracy = float(np.sum(acc[ok] * count[ok]) / n)
        # a curve made without reliability_curve (e.g. read back from a
        # file) has no meta: its ECE is that of its bins
        ece = curve.meta.get('ece', float(np.sum(count[ok] * np.abs(acc[ok] - conf[ok])) / n))
        summary = f'ECE {ece:.3f}, accuracy {100 * accuracy:.1f}% ({n} sources)'
    else:
        summary = 'no sources'
    if title is not None:
        summary = f'{textwrap.fill(str(title), 48)}\n{summary}'
    ax.set_title(summary, fontsize='medium')
    if count_ax is not None:
        count_ax.bar(centres, count, width=widths, color='0.5')
        count_ax.set_xlabel('top-class probability')
        count_ax.set_ylabel('sources')
    else:
        ax.set_xlabel('top-class probability')
    return ax


def plot_error_retention(curves, *, ax=None, at=0.2, title=None, oracle=True,
                         ceiling=None):
    """
    Error-retention curves: the fraction of all errors found among the
    most uncertain sources against the fraction of sources looked at.

    Each curve is drawn with its fraction of errors at ``at`` in the
    legend; the diagonal is a random order and the dotted line the best
    possible order (all errors first; one per distinct number of
    sources and errors among the curves).

    Parameters
    ----------
    curves : `~astropy.table.Table` or dict
        A `starcnet.metrics.error_retention` curve, or ``{label: curve}``.
    ax : `~matplotlib.axes.Axes`, optional
        Where to draw; default a new figure.
    at : float or None, optional
        Fraction of sources marked with a vertical line and read off
        each curve in the legend (None: neither).
    title : str, optional
        Axes title; say what the model was trained on and tested on.
    oracle : bool, optional
        Draw the best possible curve.
    ceiling : `~astropy.table.Table`, optional
        A `starcnet.metrics.calibrated_error_retention` curve, drawn
        dash-dotted: what the model's probabilities promise if they are
        calibrated source by source (the ceiling of the measures made
        from them).

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
    """
    plt = _pyplot()

    if not isinstance(curves, dict):
        curves = {'uncertainty': curves}
    if not curves:
        msg = 'curves is empty: give at least one error_retention curve'
        raise ValueError(msg)
    for label, curve in curves.items():
        names = getattr(curve, 'colnames', ())
        if not {'fraction', 'errors_found', 'oracle'} <= set(names):
            msg = (f'curve {label!r} is not a starcnet.metrics.error_retention table '
                   f'(columns fraction, errors_found, oracle)')
            raise ValueError(msg)
    if at is not None and not 0 <= at <= 1:
        msg = f'at must be in [0, 1] or None, got {at!r}'
        raise ValueError(msg)
    if ceiling is not None and not {'fraction', 'errors_found'} <= set(
            getattr(ceiling, 'colnames', ())):
        msg = ('ceiling is not a starcnet.metrics.calibrated_error_retention table '
               '(columns fraction, errors_found)')
        raise ValueError(msg)
    if ax is None:
        fig = plt.figure(figsize=(5.6, 5.0), layout='constrained')
        ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color='0.55', ls='--', lw=1, label='random order')
    if oracle:
        drawn = set()
        for curve in curves.values():
            key = (curve.meta.get('n_used'), curve.meta.get('n_errors'))
            if key in drawn:
                continue
            ax.plot(curve['fraction'], curve['oracle'], color='0.2', ls=':', lw=1.2,
                    label=None if drawn else 'best possible order')
            drawn.add(key)
    for k, (label, curve) in enumerate(curves.items()):
        text = str(label)
        if at is not None and len(curve) > 1:
            found = float(np.interp(at, curve['fraction'], curve['errors_found']))
            text = f'{text}: {100 * found:.0f}%'
        # the k-th colour of the cycle, whatever was drawn on ax before
        ax.plot(curve['fraction'], curve['errors_found'], lw=1.6, label=text,
                color=f'C{k % 10}')
    if ceiling is not None:
        text = 'ceiling if calibrated'
        if at is not None and len(ceiling) > 1:
            found = float(np.interp(at, ceiling['fraction'], ceiling['errors_found']))
            text = f'{text}: {100 * found:.0f}%'
        ax.plot(ceiling['fraction'], ceiling['errors_found'], color='0.2', ls='-.',
                lw=1.2, label=text)
    if at is not None:
        ax.axvline(at, color='0.75', lw=0.8, zorder=0)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel('fraction of sources looked at (most uncertain first)')
    ax.set_ylabel('fraction of all errors found')
    ax.legend(loc='lower right', fontsize='small', frameon=False,
              title=None if at is None else f'errors in the top {100 * at:.0f}%')
    if title is not None:
        ax.set_title(title, fontsize='medium')
    return ax
