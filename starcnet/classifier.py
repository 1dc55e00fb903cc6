# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The star-cluster classifier: positions in, classified table out.
"""

import datetime
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from astropy import __version__ as astropy_version
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, QTable, Table

from . import conf
from ._memmap import RowReleaser
from .cutouts import (CUTOUT_SIZE, POSITION_COLUMNS, CutoutFlag, cutout_origin,  # noqa: F401
                      check_finite_positions, image_cutouts, position_columns,
                      table_positions)
from .images import MultiBandImage
from .utils._progress import add_progress_bar

__all__ = ['StarClusterClassifier', 'POSITION_COLUMNS', 'OUTPUT_COLUMNS',
           'UNCERTAINTY_COLUMNS', 'OOD_COLUMNS', 'UNCERTAINTY_METHODS']

log = logging.getLogger(__name__)


#: Columns added to the source table.
OUTPUT_COLUMNS = ('cluster_class', 'cluster_class_name', 'prob_class1',
                  'prob_class2', 'prob_class3', 'prob_class4', 'prob_cluster',
                  'starcnet_flags', 'review_priority')

#: Columns added with ``uncertainty='mc_dropout'`` and for ensemble models.
UNCERTAINTY_COLUMNS = ('prob_std_class1', 'prob_std_class2', 'prob_std_class3',
                       'prob_std_class4', 'entropy', 'mutual_information',
                       'class_quality')

#: Columns added when the model has an out-of-distribution threshold.
OOD_COLUMNS = ('ood_score',)

#: The ``uncertainty`` methods of `StarClusterClassifier`.
UNCERTAINTY_METHODS = ('mc_dropout', 'ensemble')


def _positions(sources, wcs):
    """
    Turn a source list into (table, x, y).
    """
    if sources is None:
        # photutils finders return None when they find nothing.
        table = QTable({'x': np.zeros(0), 'y': np.zeros(0)})
        return table, np.zeros(0), np.zeros(0)
    if isinstance(sources, SkyCoord):
        if wcs is None:
            msg = ('sources are sky coordinates, but the image has no WCS to '
                   'turn them into pixels; give pixel positions or an image '
                   'with a WCS')
            raise ValueError(msg)
        sources = sources.reshape(-1) if sources.ndim != 1 else sources
        x, y = wcs.world_to_pixel(sources)
        x, y = np.atleast_1d(x).astype(float), np.atleast_1d(y).astype(float)
        table = QTable({'x': x, 'y': y, 'sky_centroid': sources})
    elif isinstance(sources, Table):
        table = QTable(sources, copy=True)
        x, y = table_positions(table, 'source table')
    else:
        arr = np.asarray(sources, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != 2:
            msg = ('sources must be a table with position columns, a SkyCoord '
                   f'or an (N, 2) array of x, y; got {type(sources).__name__} '
                   f'of shape {arr.shape}')
            raise ValueError(msg)
        x, y = arr[:, 0].copy(), arr[:, 1].copy()
        table = QTable({'x': x, 'y': y})
    check_finite_positions(x, y, 'sources')
    return table, x, y


def check_uncertainty_options(uncertainty, n_samples, seed):
    """
    Check the ``uncertainty``, ``n_samples`` and ``seed`` options of
    `StarClusterClassifier` (also on a Dask client before any task is
    sent, `starcnet.distributed`).

    Raises
    ------
    ValueError
        For an unknown method or ``n_samples`` that is not an integer >= 2.
    TypeError
        For a ``seed`` that is not an integer.
    """
    if uncertainty is not None and uncertainty not in UNCERTAINTY_METHODS:
        msg = (f'uncertainty must be None or one of {UNCERTAINTY_METHODS}, '
               f'got {uncertainty!r}')
        raise ValueError(msg)
    if (isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer))
            or n_samples < 2):
        msg = f'n_samples must be an integer >= 2, got {n_samples!r}'
        raise ValueError(msg)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        msg = f'seed must be an integer, got {seed!r}'
        raise TypeError(msg)


class StarClusterClassifier:
    """
    Classify star-cluster candidates into the four LEGUS classes.

    The classifier cuts a 5-band 32x32 cutout around every source,
    normalises it as the model was trained and runs the StarcNet
    network (Pérez et al. 2021) on it.  Call it on an image and a source
    list, as a photutils finder is called on data.

    Parameters
    ----------
    model : str or path-like, optional
        A registered model name (see `starcnet.models.list_models`) or a
        path to a weights file (our safetensors format or a published
        StarcNet ``.pth`` state_dict).  Default: ``conf.default_model``,
        the small model bundled with the package.
    device : str, optional
        ``'auto'`` (a CUDA GPU when there is one), ``'cpu'``, ``'cuda'``
        or ``'cuda:N'``.  Default: ``conf.device``.
    batch_size : int, optional
        Cutouts per network call.  Default: ``conf.batch_size``.
    max_bad_fraction : float, optional
        Sources with more than this fraction of a band's cutout outside
        the image, non-finite or masked are not classified (see
        `~starcnet.cutouts.extract_cutouts`).
    precision : {'float32', 'bfloat16', 'float16'}, optional
        Arithmetic of the network.  ``'float32'`` (default) is the
        reference; the others run it under `torch.autocast`, which is
        much faster on GPUs (and on CPUs with bfloat16 instructions) but
        may change the class of a few sources (see the performance
        page of the documentation).
    compile : bool, optional
        Run the network through `torch.compile` (frozen weights, fixed
        batch shape; the last batch is padded; needs a C++ compiler on
        a CPU).  The first call then takes 10-30 s to compile and, on a
        CPU, the compiled network is only a few percent faster than the
        eager one, so it rarely pays there (see the performance page).
    uncertainty : {None, 'mc_dropout', 'ensemble'}, optional
        `None` (default): one deterministic pass per source; for a deep
        ensemble (`~starcnet.models.StarcNetEnsemble`, a model whose
        config has ``members``) that pass runs every member, so this is
        ``'ensemble'``.
        ``'ensemble'``: the probability columns are the mean of the
        members' probabilities and the columns `UNCERTAINTY_COLUMNS` come
        from the members' spread, at no cost beyond the ensemble itself;
        a `ValueError` for a model that is not an ensemble.
        ``'mc_dropout'``: Monte Carlo dropout, ``n_samples`` passes of the
        network with its dropout layers on
        (`~starcnet.models.Predictor.sample_proba`); the probability
        columns are then the sample means and the columns
        `UNCERTAINTY_COLUMNS` are added (spread, predictive entropy,
        mutual information, class quality; see the uncertainty page of
        the documentation).  It costs ``n_samples`` network passes more
        than the default, so it is off by default.  A `ValueError` for a
        model without dropout.  For an ensemble, each sample is a pass of
        every member with dropout on (their mean), ``n_samples`` times the
        members' cost.
    n_samples : int, optional
        Passes per source with ``uncertainty='mc_dropout'`` (>= 2,
        default 16); an ensemble has as many samples as members.
    seed : int, optional
        Seed of the dropout masks: one seed gives the same catalog again
        (on the same device and batch size); the caller's random state is
        left as it was.
    temperature : float, optional
        Divide the network's logits by this (> 0) instead of the
        temperature stored with the model, e.g. one fitted with
        `starcnet.training.fit_temperature` on human classes of your own
        galaxy.  The classes do not change, only the probabilities.

    Notes
    -----
    When the model has an out-of-distribution entry in its metadata
    (`~starcnet.models.ModelInfo` ``ood``; the bundled default has one),
    every classified source gets an ``ood_score``
    (`starcnet.models.uncertainty.ood_score` of the entry's kind: the
    energy of the calibrated logits, the Mahalanobis distance of the
    penultimate features, of pixel statistics, or the combination of the
    last two; higher is more unusual), from the same deterministic network
    pass as the class, whatever ``uncertainty`` is, and the flag
    `~starcnet.CutoutFlag.OUT_OF_DISTRIBUTION` where the score is above
    the entry's threshold; with a combined entry that has a ``centre``
    threshold (the bundled default's), also
    `~starcnet.CutoutFlag.OFF_CENTRE` where no source sits at the
    position (`starcnet.models.uncertainty.off_centre_flags`).

    Examples
    --------
    >>> from starcnet import StarClusterClassifier
    >>> clf = StarClusterClassifier(device='cpu')
    >>> clf.model_name
    'sim-small-v5'
    """

    def __init__(self, model=None, *, device=None, batch_size=None,
                 max_bad_fraction=0.5, precision='float32', compile=False,
                 uncertainty=None, n_samples=16, seed=0, temperature=None):
        from .models.inference import Predictor

        check_uncertainty_options(uncertainty, n_samples, seed)
        self.uncertainty = uncertainty
        self.n_samples = int(n_samples)
        self.seed = int(seed)

        self.batch_size = int(conf.batch_size if batch_size is None else batch_size)
        if self.batch_size < 1:
            msg = f'batch_size must be a positive integer, got {batch_size!r}'
            raise ValueError(msg)
        if not 0 <= max_bad_fraction <= 1:
            msg = f'max_bad_fraction must be between 0 and 1, got {max_bad_fraction}'
            raise ValueError(msg)
        self.max_bad_fraction = float(max_bad_fraction)
        model = conf.default_model if model is None else model
        #: The inference engine (`~starcnet.models.Predictor`): network,
        #: normalisation, temperature, device, precision, compile.
        options = {} if temperature is None else {'temperature': temperature}
        self.predictor = Predictor.from_model(
            model, device=conf.device if device is None else device,
            precision=precision, compile=compile, batch_size=self.batch_size, **options)
        self.model_info = self.predictor.info
        self.model_name = self.model_info.name
        if self.predictor.is_ensemble and self.uncertainty in (None, 'ensemble'):
            self.uncertainty = 'ensemble'
            self.n_samples = self.predictor.n_members
        elif self.uncertainty == 'ensemble':
            msg = (f"uncertainty='ensemble' needs a deep ensemble model, but "
                   f"{self.model_name} is one network; use uncertainty='mc_dropout' "
                   'or a model trained with starcnet.training.fit_ensemble')
            raise ValueError(msg)
        if self.uncertainty == 'mc_dropout':
            self.predictor.check_dropout()

    @property
    def network(self):
        """
        The network (`~starcnet.models.StarcNet`, eval mode, on `device`).
        """
        return self.predictor.network

    @property
    def device(self):
        """
        The `torch.device` the network runs on.
        """
        return self.predictor.device

    @property
    def precision(self):
        """
        Arithmetic of the network: ``'float32'``, ``'bfloat16'`` or ``'float16'``.
        """
        return self.predictor.precision

    @property
    def compile(self):
        """
        Whether the network runs through `torch.compile`.
        """
        return self.predictor.compile

    @property
    def temperature(self):
        """
        The temperature in use (the model's, or the one given):
        `predict_logits` is the network output divided by it.
        """
        return self.predictor.temperature

    def __repr__(self):
        return (f'<{self.__class__.__name__}(model={self.model_name!r}, '
                f"device='{self.device}', batch_size={self.batch_size}, "
                f'max_bad_fraction={self.max_bad_fraction}, '
                f'precision={self.precision!r}, compile={self.compile}'
                + (f', uncertainty={self.uncertainty!r}, n_samples={self.n_samples}, '
                   f'seed={self.seed}' if self.uncertainty else '') + ')>')

    @property
    def bands(self):
        """
        The bands the model takes, in network order.
        """
        return tuple(self.model_info.bands)

    @property
    def class_names(self):
        """
        Class number to LEGUS class name.
        """
        return {int(k): v for k, v in self.model_info.classes.items()}

    def predict_logits(self, cutouts, missing=None):
        """
        Calibrated network outputs for cutouts in electrons per second.

        The logits are the network's output divided by the model's
        `temperature` (1 for models stored without one), so that ``softmax(predict_logits(...))`` is
        `predict_proba`; ``predict_logits(...) * clf.temperature`` is the
        raw output.

        Parameters
        ----------
        cutouts : array-like
            Shape ``(N, 5, 32, 32)``, bands in `bands` order, not yet
            normalised.
        missing : array-like of bool, optional
            Shape ``(N, 5)``: bands with no data over the cutout (see
            `~starcnet.cutouts.extract_cutouts` with
            ``return_missing=True``); their normalised input is set to 0.

        Returns
        -------
        logits : `~numpy.ndarray`
            float32, shape ``(N, 4)``, columns for classes 1-4; a row is
            NaN throughout where the network output is not finite (see
            `~starcnet.CutoutFlag`, ``NONFINITE_OUTPUT``).
        """
        return self.predictor.logits(cutouts, missing)

    def predict_proba(self, cutouts, missing=None):
        """
        Class probabilities (softmax of `predict_logits`).

        Parameters
        ----------
        cutouts : array-like
            Shape ``(N, 5, 32, 32)`` in electrons per second.
        missing : array-like of bool, optional
            As in `predict_logits`.

        Returns
        -------
        proba : `~numpy.ndarray`
            float32, shape ``(N, 4)``; each row sums to 1, or is NaN
            throughout where the network output is not finite.
        """
        return _softmax(self.predict_logits(cutouts, missing))

    def __call__(self, image, sources, *, progress_bar=False):
        """
        Classify sources in a multi-band image.

        Parameters
        ----------
        image : `~starcnet.MultiBandImage`, dict or list
            The bands (anything `~starcnet.MultiBandImage` takes).
        sources : `~astropy.table.Table`, `~astropy.coordinates.SkyCoord`, array or None
            A table with 0-based pixel positions in ``x_centroid`` /
            ``y_centroid`` (photutils 3), ``xcentroid`` / ``ycentroid``
            or ``x`` / ``y``; sky positions (the image needs a WCS); an
            ``(N, 2)`` array of x, y; or `None` (a finder that found
            nothing), which gives an empty table.
        progress_bar : bool, optional
            Show a tqdm progress bar over the batches on standard error
            (needs ``pip install tqdm``; an `ImportError` without it).

        Returns
        -------
        catalog : `~astropy.table.QTable`
            The input columns plus ``cluster_class`` (1-4, masked where
            not classified), ``cluster_class_name``, ``prob_class1`` ..
            ``prob_class4``, ``prob_cluster`` (classes 1+2),
            ``starcnet_flags`` (`~starcnet.cutouts.CutoutFlag` bits),
            ``review_priority`` (0-1, which sources to look at first:
            `starcnet.models.uncertainty.review_priority` of the written
            probabilities and flags) and, when the image has a WCS,
            ``sky_centroid``.  ``meta['starcnet']``
            records the model, its sha256 and the software versions.
            Input columns named like an output column are kept renamed
            ``input_<name>``, with a `~starcnet.exceptions.StarcnetWarning`;
            so is an input ``sky_centroid`` that is not a SkyCoord within
            0.5 pixel of the positions through the image WCS.
            With ``uncertainty='mc_dropout'``, and for an ensemble model,
            the probabilities are sample (member) means and
            `UNCERTAINTY_COLUMNS` are added; with a model that
            has an OOD threshold, ``ood_score`` (masked where not
            classified, as the class columns).

        Warns
        -----
        `~starcnet.exceptions.StarcnetWarning`
            When input columns are renamed.
        """
        if not isinstance(image, MultiBandImage):
            image = MultiBandImage(image)
        band_map = image.match_bands(self.bands)
        table, x, y = _positions(sources, image.wcs)

        arrays, masks, _ = image.band_arrays(band_map.values())
        n = len(x)
        n_classes = len(self.class_names)
        logits = np.zeros((n, n_classes), dtype=np.float32)
        flags = np.zeros(n, dtype=np.int16)
        sampled = (np.zeros((self.n_samples, n, n_classes), dtype=np.float32)
                   if self.uncertainty else None)
        ood = self.model_info.ood
        ood_scores = np.full(n, np.nan) if ood is not None else None
        rises = np.full(n, np.nan) if ood is not None and 'centre' in ood else None
        # Sources are processed in batches, so only one batch of cutouts
        # is ever in memory, in order of row, so that the pages of
        # memory-mapped bands above the current strip can be given back
        # (resident memory stays flat); results go back in input order.
        order = np.argsort(y, kind='stable')
        top_row = cutout_origin(x[order], y[order])[1]
        releaser = RowReleaser([*arrays, *masks])
        step = self.predictor.input_batch_size(self.batch_size)

        def cut(start):
            # in e-/s, batch by batch, so memory-mapped bands stay on disk
            index = order[start:start + step]
            return index, image_cutouts(image, x[index], y[index],
                                        bands=band_map.values(),
                                        max_bad_fraction=self.max_bad_fraction)

        batches = add_progress_bar(
            range(0, n, step), desc=f'StarcNet: {n} sources',
            unit='batch', progress_bar=progress_bar)
        # One thread cuts the next batch (reading its pixels) while the
        # network classifies this one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            ahead = pool.submit(cut, 0) if n else None
            for start in batches:
                index, (cutouts, batch_flags, missing) = ahead.result()
                flags[index] = batch_flags
                following = start + step
                if following < n:
                    ahead = pool.submit(cut, following)
                ok = (flags[index] & CutoutFlag.UNCLASSIFIED) == 0
                if ok.any():
                    batch, batch_scores, batch_rises, members = self._logits_and_ood(
                        cutouts[ok], missing[ok], ood, rise=rises is not None)
                    finite = _finite_rows(batch)
                    if members is not None:
                        # the ensemble's members, from the same pass
                        samples = _softmax(members)
                        sampled[:, index[ok][finite]] = samples[:, finite]
                    elif sampled is not None:
                        # one seed per batch, from the seed and the batch
                        batch_seed = int(np.random.SeedSequence(
                            [self.seed, start]).generate_state(1)[0])
                        samples = self.predictor.sample_proba(
                            cutouts[ok], missing[ok], n_samples=self.n_samples,
                            seed=batch_seed)
                        finite &= np.isfinite(samples).all(axis=(0, 2))
                        sampled[:, index[ok][finite]] = samples[:, finite]
                    # rows the predictor found not finite: masked, flagged
                    logits[index[ok][finite]] = batch[finite]
                    if ood_scores is not None:
                        ood_scores[index[ok][finite]] = batch_scores[finite]
                    if rises is not None:
                        rises[index[ok][finite]] = batch_rises[finite]
                    flags[index[ok][~finite]] |= (CutoutFlag.NONFINITE_OUTPUT
                                                  | CutoutFlag.UNCLASSIFIED)
                if releaser:
                    releaser.release(top_row[following] if following < n
                                     else arrays[0].shape[0])
        n_bad = int(np.count_nonzero(flags & CutoutFlag.UNCLASSIFIED))
        if n_bad:
            log.info('%d of %d sources were not classified (see starcnet_flags)',
                     n_bad, n)
        return self._table(table, x, y, logits, flags, image, band_map, sampled,
                           ood_scores=ood_scores, rises=rises)

    def _logits_and_ood(self, cutouts, missing, ood, rise=False):
        """
        Calibrated logits of a batch, for a model with an ``ood`` entry
        its OOD scores (`starcnet.models.uncertainty.ood_score`, else
        `None`), with ``rise`` the `~starcnet.models.uncertainty.centre_rise`
        of its cutouts (else `None`), and for an ensemble the calibrated
        logits of its members (else `None`), all from the same network
        pass.
        """
        from .models import uncertainty as unc

        features_too = ood is not None and unc.ood_needs_features(ood)
        members = None
        if self.uncertainty == 'ensemble':
            out = self.predictor.member_logits(cutouts, missing,
                                               return_features=features_too)
            members, features = out if features_too else (out, None)
            logits = self.predictor.combine_members(members)
        elif features_too:
            logits, features = self.predictor.logits(cutouts, missing,
                                                     return_features=True)
        else:
            logits, features = self.predictor.logits(cutouts, missing), None
        if ood is None:
            return logits, None, None, members
        scores = unc.ood_score(ood, logits=logits, features=features, cutouts=cutouts,
                               missing=missing, return_rise=rise)
        scores, rises = scores if rise else (scores, None)
        return logits, scores, rises, members

    def _table(self, table, x, y, logits, flags, image, band_map, sampled=None,
               ood_scores=None, rises=None):
        # Every added column has a description and a UCD (kept in ECSV
        # and VOTable); classes, probabilities and flags are pure numbers
        # and carry no unit: a dimensionless unit would turn them into
        # masked Quantity columns in a QTable, which numpy.ma functions
        # do not handle.
        from .models import uncertainty as unc

        ood = self.model_info.ood
        _rename_inputs(table, OUTPUT_COLUMNS
                       + (UNCERTAINTY_COLUMNS if sampled is not None else ())
                       + (OOD_COLUMNS if ood is not None else ()))
        unclassified = (flags & CutoutFlag.UNCLASSIFIED) != 0
        if sampled is not None:
            summary = unc.uncertainty_summary(sampled)
            proba = summary['mean'].astype(np.float32)
        else:
            proba = _softmax(logits)
        if ood is not None:
            score = unc.energy_score(logits) if ood_scores is None else ood_scores
            flags[unc.ood_flags(score, ood) & ~unclassified] |= (
                CutoutFlag.OUT_OF_DISTRIBUTION)
            if rises is not None:
                flags[unc.off_centre_flags(rises, ood) & ~unclassified] |= (
                    CutoutFlag.OFF_CENTRE)
        cls = np.argmax(proba, axis=1).astype(np.int16) + 1
        names = self.class_names
        table['cluster_class'] = MaskedColumn(
            cls, mask=unclassified, meta={'ucd': 'meta.code.class'},
            description='LEGUS class (1-4) from StarcNet; masked (null) where '
                        'the source was not classified (see starcnet_flags)')
        table['cluster_class_name'] = MaskedColumn(
            np.array([names[c] for c in cls], dtype=f'U{max(map(len, names.values()))}'),
            mask=unclassified, meta={'ucd': 'src.class'},
            description='LEGUS class name of cluster_class')
        for k in range(proba.shape[1]):
            table[f'prob_class{k + 1}'] = MaskedColumn(
                proba[:, k], mask=unclassified, meta={'ucd': 'stat.probability'},
                description=f'StarcNet probability of LEGUS class {k + 1} '
                            f'({names[k + 1]})')
        table['prob_cluster'] = MaskedColumn(
            proba[:, 0] + proba[:, 1], mask=unclassified,
            meta={'ucd': 'stat.probability'},
            description='probability of a cluster (class 1 or 2)')
        table['starcnet_flags'] = MaskedColumn(
            flags, meta={'ucd': 'meta.code.qual'}, description='bit flags: ' + ', '.join(
                f'{f.value}={f.name}' for f in CutoutFlag)
            + ' (MISSING_BAND: a band has no data there, classified from the others;'
            ' NONFINITE_OUTPUT: the network output was not finite, not classified;'
            ' OUT_OF_DISTRIBUTION: ood_score above the model threshold, a warning:'
            ' the class is kept; OFF_CENTRE: no source at the position, the light'
            ' climbs outwards from it, a warning: the class is kept)')
        # from the written probabilities and the final flags (OOD included);
        # costs nothing, so it is always there
        table['review_priority'] = MaskedColumn(
            unc.review_priority(proba, flags).astype(np.float32), mask=unclassified,
            meta={'ucd': 'meta.code.qual'},
            description='which sources to look at first, 0 to 1 (higher first): '
                        '1 - (1 - a) * prod(1 - w_f), a = (u + b) / 2, u = entropy of '
                        'prob_class1..4 / log 4, b = 1 - |2 prob_cluster - 1|, w_f = '
                        '0.5 for each of OUT_OF_DISTRIBUTION and OFF_CENTRE, '
                        '0.25 for each of MISSING_BAND, '
                        'EDGE, NONFINITE, MASKED; unit-less')
        if sampled is not None:
            self._uncertainty_columns(table, summary, unclassified)
        if ood is not None:
            table['ood_score'] = MaskedColumn(
                score.astype(np.float32), mask=unclassified,
                meta={'ucd': 'stat.value'},
                description=f'out-of-distribution score ({_OOD_WHAT[ood["kind"]]}; '
                            'higher is more unusual); '
                            f'OUT_OF_DISTRIBUTION is set above {ood["threshold"]:.6g}, '
                            f'the {ood["quantile"]:g} quantile of in-distribution '
                            'cutouts')
        for name, axis in zip(position_columns(table, 'source table'), 'xy'):
            if not table[name].info.description:
                table[name].info.description = (
                    f'0-based {axis} pixel position (centre of the first pixel is 0)')
        if image.wcs is not None and 'sky_centroid' in table.colnames:
            _check_sky_column(table, x, y, image.wcs)
        if image.wcs is not None and 'sky_centroid' not in table.colnames:
            table['sky_centroid'] = image.wcs.pixel_to_world(x, y)
            table['sky_centroid'].info.description = (
                'sky position of (x, y) from the image WCS')
        table.meta['starcnet'] = self._meta(band_map)
        if sampled is not None:
            table.meta['starcnet']['uncertainty'] = {
                'method': self.uncertainty, 'n_samples': self.n_samples,
                'seed': self.seed}
        if ood is not None:
            # the kind, threshold and scales; not the model's matrices
            table.meta['starcnet']['ood'] = unc.ood_summary(ood)
        table.meta['starcnet']['pixel_units'] = {
            band: image[used].meta.get('unit_note', 'electrons per second')
            for band, used in band_map.items()}
        return table

    def _uncertainty_columns(self, table, summary, unclassified):
        names = self.class_names
        n = self.n_samples
        samples, sample = (('ensemble members', 'ensemble member')
                           if self.uncertainty == 'ensemble'
                           else ('Monte Carlo dropout samples', 'dropout sample'))
        for k in range(summary['std'].shape[1]):
            table[f'prob_std_class{k + 1}'] = MaskedColumn(
                summary['std'][:, k].astype(np.float32), mask=unclassified,
                meta={'ucd': 'stat.stdev'},
                description=f'standard deviation of prob_class{k + 1} '
                            f'({names[k + 1]}) over {n} {samples}')
        table['entropy'] = MaskedColumn(
            summary['entropy'].astype(np.float32), mask=unclassified,
            meta={'ucd': 'stat.value'},
            description='predictive entropy of the mean probabilities, in nats '
                        '(0: certain, log 4 = 1.386: uniform), unit-less')
        table['mutual_information'] = MaskedColumn(
            summary['mutual_information'].astype(np.float32), mask=unclassified,
            meta={'ucd': 'stat.value'},
            description='mutual information between class and dropout sample, '
                        'in nats (entropy minus the mean entropy of the samples): '
                        "the model's own doubt, 0 when all samples agree; unit-less")
        table['class_quality'] = MaskedColumn(
            summary['class_quality'].astype(np.float32), mask=unclassified,
            meta={'ucd': 'stat.value'},
            description=f'fraction of the {n} {samples} whose '
                        'class is cluster_class (1: all agree); unit-less')

    def _meta(self, band_map):
        import torch

        from . import __version__

        info = self.model_info
        return {
            'model': info.name,
            'model_sha256': info.sha256,
            'model_license': info.license,
            'model_citation': info.citation,
            'class_names': [self.class_names[k] for k in sorted(self.class_names)],
            'bands': dict(band_map),
            'normalization': info.normalization.to_metadata(),
            'temperature': self.temperature,
            'cutout': ('32x32 pixels data[floor(y)-15:floor(y)+17, '
                       'floor(x)-15:floor(x)+17] for 0-based (x, y)'),
            'max_bad_fraction': self.max_bad_fraction,
            'flags': {f.name: f.value for f in CutoutFlag},
            'device': str(self.device),
            'starcnet_version': str(__version__),
            'torch_version': str(torch.__version__),
            'astropy_version': str(astropy_version),
            'numpy_version': str(np.__version__),
            'date': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
        }

    def to_regions(self, catalog, **kwargs):
        """
        DS9 regions for a classified catalog, coloured by class.

        See `starcnet.io.ds9.catalog_to_regions` for the keywords.
        """
        from .io.ds9 import catalog_to_regions

        return catalog_to_regions(catalog, **kwargs)


#: How far (pixels) an input ``sky_centroid`` may lie from the position
#: it belongs to, through the image WCS, and be kept as the sky column.
SKY_TOLERANCE = 0.5


def _input_name(table, name):
    new = f'input_{name}'
    while new in table.colnames:
        new = f'input_{new}'
    return new


def _rename_inputs(table, names, why='starcnet writes its own column of that name',
                   stacklevel=4):
    """Rename input columns that clash with output columns, with a warning."""
    from .exceptions import StarcnetWarning

    clashes = [name for name in names if name in table.colnames]
    if not clashes:
        return
    renamed = {name: _input_name(table, name) for name in clashes}
    for name, new in renamed.items():
        table.rename_column(name, new)
    listing = ', '.join(f'{a!r} -> {b!r}' for a, b in renamed.items())
    warnings.warn(f'the source table has column(s) named like output columns; '
                  f'{why}, so the input column(s) were renamed: {listing}',
                  StarcnetWarning, stacklevel=stacklevel)


def _check_sky_column(table, x, y, wcs):
    """
    Keep an input ``sky_centroid`` only if it is a SkyCoord within
    `SKY_TOLERANCE` pixels of (x, y) through the image WCS; else rename it
    (warning) so that the sky column of (x, y) is computed.
    """
    sky = table['sky_centroid']
    if isinstance(sky, SkyCoord):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')    # e.g. positions off the projection
            px, py = wcs.world_to_pixel(sky)
        px, py = np.atleast_1d(px), np.atleast_1d(py)
        with np.errstate(invalid='ignore', over='ignore'):
            off = np.hypot(px - x, py - y)
        if np.all(off <= SKY_TOLERANCE):
            return
        n_bad = int(np.count_nonzero(~(off <= SKY_TOLERANCE)))
        why = (f'its sky_centroid disagrees with the pixel positions by more '
               f'than {SKY_TOLERANCE} pixel through the image WCS for {n_bad} '
               f'of {len(x)} source(s), and starcnet writes the sky position of '
               'the pixel positions it classified')
    else:
        why = (f'its sky_centroid is not a SkyCoord ({type(sky).__name__}), and '
               'starcnet writes the sky position of the pixel positions')
    _rename_inputs(table, ['sky_centroid'], why, stacklevel=5)


#: What the ``ood_score`` of each kind of ``ood`` entry is, for its description.
_OOD_WHAT = {
    'energy': 'energy -logsumexp of the calibrated logits',
    'mahalanobis': 'Mahalanobis distance of the penultimate network features to '
                   'the nearest class mean',
    'input_statistics': 'Mahalanobis distance of robust statistics of the pixels '
                        'in e-/s',
    'combined': 'the larger of the Mahalanobis distances of the network features '
                'and of the pixel statistics, each over its in-distribution quantile',
}


def _finite_rows(logits):
    from .models.inference import finite_rows

    return finite_rows(logits)


def _softmax(logits):
    from .models.inference import softmax

    return softmax(logits)
