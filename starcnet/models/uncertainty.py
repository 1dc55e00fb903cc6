# Licensed under a 3-clause BSD style license - see LICENSE.rst
r"""
Per-source uncertainty from sampled probabilities, and an
out-of-distribution (OOD) score of logits.

Pure numpy functions.  ``samples`` is always an array of shape
``(S, N, C)``: ``S`` draws of the class probabilities of ``N`` sources
over ``C`` classes, e.g. ``S`` Monte Carlo dropout passes
(`~starcnet.models.Predictor.sample_proba`) or the ``S`` members of an
ensemble.  With :math:`p_{s,n,c}` the probability of class :math:`c` of
source :math:`n` in sample :math:`s` and natural logarithms throughout
(so entropies are in nats):

* mean probability :math:`\bar p_{n,c} = \frac1S \sum_s p_{s,n,c}`
  (`mean_proba`);
* its spread :math:`\sigma_{n,c} = \sqrt{\frac1S \sum_s (p_{s,n,c} -
  \bar p_{n,c})^2}` (`proba_std`, the population standard deviation);
* predictive entropy :math:`H[\bar p_n] = -\sum_c \bar p_{n,c} \log
  \bar p_{n,c}` (`predictive_entropy`): all the uncertainty, the
  object's ambiguity and the model's doubt, from 0 to :math:`\log C`;
* expected entropy :math:`E[H]_n = \frac1S \sum_s H[p_{s,n}]`
  (`expected_entropy`): the ambiguity each sample sees on its own;
* mutual information :math:`I_n = H[\bar p_n] - E[H]_n`
  (`mutual_information`): the disagreement between samples, the model's
  own doubt (epistemic uncertainty), from 0 (all samples agree) to
  :math:`\log C`;
* class quality :math:`q_n = \frac1S \#\{s : \arg\max_c p_{s,n,c} =
  \arg\max_c \bar p_{n,c}\}` (`class_quality`): the fraction of samples
  whose class is the class of the mean, as the ensemble agreement that
  PHANGS-HST releases with its machine classes; 1 when all agree.

Out-of-distribution (OOD) scores, **higher meaning more unusual**
(further from the training data), of a model's ``ood`` entry
(`ood_score`, fitted by `fit_ood`): the energy of Liu et al. (2020) of
logits :math:`f`, :math:`E(f) = -T \log \sum_c \exp(f_c / T)`
(`energy_score`); the class-conditional Mahalanobis distance of the
penultimate features of Lee et al. (2018) (`mahalanobis_features`); the
Mahalanobis distance of robust statistics of the pixels before
normalisation (`input_statistics`, `mahalanobis_statistics`); and the
combined score: the larger of the last two, each over its own
in-distribution quantile, or, in entries with an ``evidence`` part
(``fit_ood(..., evidence='rarest')`` or ``'sum'``), the largest or the
sum of the tail log-probabilities of both distances and of the
`centre_rise` (`tail_log_probability`) over its in-distribution
quantile.  The flag
`~starcnet.CutoutFlag.OUT_OF_DISTRIBUTION` is set where the score is
above the threshold stored with the model (`ood_flags`), and
`~starcnet.CutoutFlag.OFF_CENTRE` where the `centre_rise` is above its
own threshold in a combined entry (`off_centre_flags`): a cutout centred
beside a source rather than on it, which the score sees poorly.

A source whose samples are not all finite (NaN rows of a network output
that was not finite) gets NaN in every quantity.

`review_priority` ranks sources for a person to look at: a number in
[0, 1] from the class probabilities (how ambiguous the class is, how
near the cluster / non-cluster boundary) and the source's flags (out of
distribution, repaired or missing inputs); see its formula.

References
----------
Lee, K., Lee, K., Lee, H. & Shin, J. 2018, "A Simple Unified Framework
for Detecting Out-of-Distribution Samples and Adversarial Attacks",
NeurIPS 31, arXiv:1807.03888.

Liu, W., Wang, X., Owens, J. D. & Li, Y. 2020, "Energy-based
Out-of-distribution Detection", NeurIPS 33, arXiv:2010.03759.
"""

import numpy as np

__all__ = ['mean_proba', 'proba_std', 'entropy', 'predictive_entropy',
           'expected_entropy', 'mutual_information', 'class_quality',
           'uncertainty_summary', 'energy_score', 'fit_ood_threshold',
           'ood_flags', 'review_priority', 'REVIEW_FLAG_WEIGHTS', 'fit_ood', 'ood_score',
           'input_statistics', 'statistics_names', 'mahalanobis_features',
           'mahalanobis_statistics', 'ood_summary', 'centre_rise',
           'tail_log_probability', 'EVIDENCE_QUANTILES', 'EVIDENCE_PARTS',
           'EVIDENCE_TAILS', 'EVIDENCE_RULES', 'off_centre_flags']


def _samples(samples):
    """``samples`` as float64 ``(S, N, C)``, and which sources are finite."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 3 or samples.shape[0] < 1 or samples.shape[2] < 2:
        msg = ('samples must have shape (S, N, C): S >= 1 samples of the '
               f'probabilities of N sources over C >= 2 classes, got {samples.shape}')
        raise ValueError(msg)
    finite = np.isfinite(samples).all(axis=(0, 2))
    return samples, finite


def _nan_rows(values, finite):
    if not finite.all():
        values = np.array(values, dtype=np.float64)
        values[~finite] = np.nan
    return values


def entropy(proba):
    r"""
    Entropy :math:`-\sum_c p_c \log p_c` (nats) along the last axis, with
    :math:`0 \log 0 = 0`.

    Parameters
    ----------
    proba : array-like
        Probabilities, classes along the last axis.

    Returns
    -------
    entropy : `~numpy.ndarray`
        float64, the shape of ``proba`` without its last axis.

    Examples
    --------
    >>> from starcnet.models.uncertainty import entropy
    >>> float(entropy([0.5, 0.5]))  # log 2
    0.6931471805599453
    >>> float(entropy([1.0, 0.0]))
    0.0
    """
    proba = np.asarray(proba, dtype=np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        terms = np.where(proba > 0, proba * np.log(np.where(proba > 0, proba, 1.0)), 0.0)
    terms = np.where(np.isnan(proba), np.nan, terms)
    return 0.0 - terms.sum(axis=-1)     # 0.0 - x: no -0.0 for certain rows


def mean_proba(samples):
    r"""
    The mean probabilities :math:`\bar p_{n,c}` over the samples.

    Parameters
    ----------
    samples : array-like
        ``(S, N, C)`` sampled probabilities.

    Returns
    -------
    mean : `~numpy.ndarray`
        float64 ``(N, C)``; rows sum to 1 (NaN for sources whose samples
        are not finite).
    """
    samples, finite = _samples(samples)
    return _nan_rows(samples.mean(axis=0), finite)


def proba_std(samples):
    r"""
    The standard deviation :math:`\sigma_{n,c}` of the probabilities over
    the samples (population form, divided by ``S``; 0 for one sample).

    Returns
    -------
    std : `~numpy.ndarray`
        float64 ``(N, C)``.
    """
    samples, finite = _samples(samples)
    return _nan_rows(samples.std(axis=0), finite)


def predictive_entropy(samples):
    r"""
    The entropy of the mean probabilities, :math:`H[\bar p_n]` (nats).

    Returns
    -------
    entropy : `~numpy.ndarray`
        float64 ``(N,)``, from 0 to :math:`\log C`.
    """
    return entropy(mean_proba(samples))


def expected_entropy(samples):
    r"""
    The mean over the samples of their entropies, :math:`E[H]_n` (nats).

    Returns
    -------
    entropy : `~numpy.ndarray`
        float64 ``(N,)``.
    """
    samples, finite = _samples(samples)
    return _nan_rows(entropy(samples).mean(axis=0), finite)


def mutual_information(samples):
    r"""
    The mutual information between the class and the sample,
    :math:`I_n = H[\bar p_n] - E[H]_n` (nats): how much the samples
    disagree, the model's own doubt.

    It is 0 when all samples are equal and :math:`\log C` at most (e.g.
    two samples that are opposite one-hot vectors of two classes give
    :math:`\log 2`).  Rounding below 0 is clipped to 0.

    Returns
    -------
    mi : `~numpy.ndarray`
        float64 ``(N,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from starcnet.models.uncertainty import mutual_information
    >>> opposite = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])   # (S=2, N=1, C=2)
    >>> mutual_information(opposite)  # log 2
    array([0.69314718])
    """
    samples, finite = _samples(samples)
    mi = entropy(samples.mean(axis=0)) - entropy(samples).mean(axis=0)
    return _nan_rows(np.maximum(mi, 0.0), finite)


def class_quality(samples):
    r"""
    The fraction of samples whose most probable class is that of the mean
    probabilities, :math:`q_n` (the PHANGS-HST ensemble agreement).

    Returns
    -------
    quality : `~numpy.ndarray`
        float64 ``(N,)``, in :math:`[1/S, 1]` (the class of the mean is
        usually one of the samples' classes; it can be none of them, then
        0); 1 when every sample gives the same class.
    """
    samples, finite = _samples(samples)
    with np.errstate(invalid='ignore'):
        mean = np.where(finite[None, :, None], samples, 0.0)
        classes = np.argmax(mean.mean(axis=0), axis=-1)
        agree = np.argmax(mean, axis=-1) == classes[None, :]
    return _nan_rows(agree.mean(axis=0), finite)


def uncertainty_summary(samples):
    """
    Every per-source quantity of this module at once.

    Parameters
    ----------
    samples : array-like
        ``(S, N, C)`` sampled probabilities.

    Returns
    -------
    summary : dict of `~numpy.ndarray`
        ``'mean'`` and ``'std'`` ``(N, C)``; ``'entropy'`` (predictive,
        nats), ``'expected_entropy'``, ``'mutual_information'`` (nats)
        and ``'class_quality'`` ``(N,)``; float64.
    """
    samples, finite = _samples(samples)
    mean = samples.mean(axis=0)
    h_mean = entropy(mean)
    h_expected = entropy(samples).mean(axis=0)
    summary = {
        'mean': mean,
        'std': samples.std(axis=0),
        'entropy': h_mean,
        'expected_entropy': h_expected,
        'mutual_information': np.maximum(h_mean - h_expected, 0.0),
    }
    summary = {key: _nan_rows(value, finite) for key, value in summary.items()}
    summary['class_quality'] = class_quality(samples)
    return summary


def energy_score(logits, temperature=1.0):
    r"""
    The energy score :math:`E(f) = -T \log \sum_c \exp(f_c / T)` of
    logits (Liu et al. 2020): higher means more out of distribution.

    Parameters
    ----------
    logits : array-like
        ``(N, C)`` logits; the classifier uses the calibrated logits of
        `~starcnet.models.Predictor.logits` (network output divided by
        the model's temperature) with ``temperature=1``.
    temperature : float, optional
        :math:`T` of the formula (> 0).

    Returns
    -------
    score : `~numpy.ndarray`
        float64 ``(N,)``; NaN where a row is not finite.

    Examples
    --------
    >>> from starcnet.models.uncertainty import energy_score
    >>> [round(float(e), 4) for e in energy_score([[0.0, 0.0], [10.0, 0.0]])]
    [-0.6931, -10.0]
    """
    from .inference import check_temperature

    temperature = check_temperature(temperature)
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        msg = f'logits must have shape (N, C) with C >= 2, got {logits.shape}'
        raise ValueError(msg)
    finite = np.isfinite(logits).all(axis=1)
    scaled = np.where(finite[:, None], logits, 0.0) / temperature
    top = scaled.max(axis=1)
    lse = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
    return _nan_rows(-temperature * lse, finite)


# -- out-of-distribution scores beyond the energy -----------------------------

#: Pixels farther than this from the cutout centre are the background
#: pixels of `input_statistics` (those of the ``'local'`` normalisation).
STATISTICS_RADIUS = 12.0

#: Radius (pixels) of the central aperture of the signal-to-noise ratios.
APERTURE_RADIUS = 3.0

#: A band's peak counts as a plateau (saturation, bleed column) when it is
#: this many noise sigmas above the background.
PLATEAU_SIGMA = 20.0

#: Relative ridge added to a covariance before it is inverted: ``RIDGE``
#: times the mean of its diagonal on the diagonal.
RIDGE = 1e-3

_CENTRE = 15.5


def statistics_names(n_bands=5):
    """
    The names of the `input_statistics` of ``n_bands``-band cutouts, in
    order: ``log10_noise_<b>`` and ``asinh_snr_<b>`` for each band ``b``
    (0-based), then ``centre_ratio``, ``concentration``, ``log_plateau``.

    Returns
    -------
    names : list of str
        ``2 * n_bands + 3`` names.
    """
    return ([f'log10_noise_{b}' for b in range(n_bands)]
            + [f'asinh_snr_{b}' for b in range(n_bands)]
            + ['centre_ratio', 'concentration', 'log_plateau'])


def _radius_grid(size=32):
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    return yy, xx


def _box3(image):
    """3x3 box sum of ``(N, H, W)``, zero padded."""
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)))
    h, w = image.shape[1:]
    return sum(padded[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))


def _detection_image(cutouts, missing):
    """
    ``(x, background, noise, usable, z)`` of `input_statistics`: the
    cutouts as float64, each band's background median and robust noise
    (NaN where not usable), which bands are usable, and the detection
    image ``z`` ``(N, 32, 32)``, the mean of the usable bands in noise
    units (0 where none is).
    """
    x = np.asarray(cutouts, dtype=np.float64)
    if x.ndim != 4 or x.shape[2:] != (32, 32):
        msg = f'cutouts must have shape (N, n_bands, 32, 32), got {x.shape}'
        raise ValueError(msg)
    n, n_bands = x.shape[:2]
    if missing is None:
        missing = np.zeros((n, n_bands), dtype=bool)
    missing = np.asarray(missing, dtype=bool)
    if missing.shape != (n, n_bands):
        msg = f'missing must have shape (N, n_bands) = {(n, n_bands)}, got {missing.shape}'
        raise ValueError(msg)
    yy, xx = _radius_grid()
    r2 = (yy - _CENTRE) ** 2 + (xx - _CENTRE) ** 2
    outer = x[:, :, r2 > STATISTICS_RADIUS ** 2]
    with np.errstate(invalid='ignore', divide='ignore'):
        background = np.median(outer, axis=2)
        deviation = outer - background[..., None]
        noise = 1.4826 * np.median(np.abs(deviation), axis=2)
        rms = np.sqrt(np.mean(deviation ** 2, axis=2))
        noise = np.where(noise > 0, noise, rms)
        usable = ~missing & np.isfinite(noise) & (noise > 0) & np.isfinite(x).all(axis=(2, 3))
        noise = np.where(usable, noise, np.nan)
        z = (x - background[..., None, None]) / noise[..., None, None]
        z = np.where(usable[..., None, None], z, 0.0)
        z = z.sum(axis=1) / np.maximum(usable.sum(axis=1), 1)[:, None, None]
    return x, background, noise, usable, z


def input_statistics(cutouts, missing=None):
    r"""
    Robust per-cutout statistics of the pixels in e-/s, before any
    normalisation: what the network cannot see once the ``'local'``
    normalisation has divided levels out.

    For each band :math:`b`, with the background pixels those farther
    than `STATISTICS_RADIUS` (12) pixels from the cutout centre (15.5,
    15.5) (576 of 1024): the background :math:`m_b` is their median, the
    noise :math:`\sigma_b` 1.4826 times their median absolute deviation
    (their root-mean-square deviation where that is 0).  Then

    * ``log10_noise_<b>``: :math:`\log_{10} \sigma_b` (e-/s): the
      depth and the units of the image (counts instead of e-/s, a band in
      the wrong place);
    * ``asinh_snr_<b>``: :math:`\operatorname{arcsinh}` of the
      signal-to-noise ratio :math:`\sum_{r<3} (x - m_b) / (\sigma_b
      \sqrt{n})` in the :math:`n` = 28 pixels within `APERTURE_RADIUS` (3)
      of the centre: is there a source, and of what colours;

    and on the detection image :math:`z`, the mean over the bands of
    :math:`(x - m_b) / \sigma_b`:

    * ``centre_ratio``: with :math:`\bar z` the 3x3 box mean of
      :math:`z`, the maximum of :math:`\bar z` within 1.6 pixels of the
      centre (clipped at 0) over its maximum within 6 pixels: about 1
      when the brightest thing near the centre is at the centre (a
      candidate sits within about 1.5 pixels), small for a source off
      the centre;
    * ``concentration``: :math:`\sum_{r<1.5} z / \sum_{r<3.5} z` around
      the pixel of that maximum within 6 pixels, clipped to [-1, 2] (the
      width of the light profile);
    * ``log_plateau``: :math:`\log(1 + k)`, with :math:`k + 1` the
      largest number, over the bands, of pixels at the band's maximum
      value when that maximum is more than `PLATEAU_SIGMA` (20)
      :math:`\sigma_b` above :math:`m_b` (0 for a unique peak; large for
      a saturated plateau or a bleed column).

    Parameters
    ----------
    cutouts : array-like
        ``(N, n_bands, 32, 32)`` cutouts in e-/s.
    missing : array-like of bool, optional
        ``(N, n_bands)`` bands without data: their statistics are NaN and
        they are left out of :math:`z`.

    Returns
    -------
    statistics : `~numpy.ndarray`
        float64 ``(N, 2 * n_bands + 3)``, columns `statistics_names`;
        NaN where a statistic has no value (a missing or constant band, a
        cutout with no usable band).
    """
    return _statistics_of(_detection_image(cutouts, missing))


def _statistics_of(image):
    """`input_statistics` of a `_detection_image`."""
    x, background, noise, usable, z = image
    n, n_bands = x.shape[:2]
    yy, xx = _radius_grid()
    r2 = (yy - _CENTRE) ** 2 + (xx - _CENTRE) ** 2
    with np.errstate(invalid='ignore', divide='ignore'):
        aperture = r2 < APERTURE_RADIUS ** 2
        signal = (x[:, :, aperture] - background[..., None]).sum(axis=2)
        snr = signal / (noise * np.sqrt(aperture.sum()))
    n_usable = usable.sum(axis=1)
    box = _box3(z) / 9.0
    near = np.where((r2 <= 6.0 ** 2)[None], box, -np.inf).reshape(n, -1)
    peak = np.argmax(near, axis=1)
    py, px = np.unravel_index(peak, (32, 32))
    central = np.where((r2 <= 1.6 ** 2)[None], box, -np.inf).reshape(n, -1).max(axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
        ratio = np.clip(central, 0, None) / np.where(near.max(axis=1) > 0,
                                                     near.max(axis=1), np.nan)
    d2 = (yy[None] - py[:, None, None]) ** 2 + (xx[None] - px[:, None, None]) ** 2
    with np.errstate(invalid='ignore', divide='ignore'):
        inner = np.where(d2 < 1.5 ** 2, z, 0.0).sum(axis=(1, 2))
        wide = np.where(d2 < 3.5 ** 2, z, 0.0).sum(axis=(1, 2))
        concentration = np.clip(inner / np.where(wide > 0, wide, np.nan), -1.0, 2.0)
        top = x.max(axis=(2, 3))
        bright = usable & (top > background + PLATEAU_SIGMA * noise)
        at_top = (x >= top[..., None, None] - 1e-6 * np.abs(top[..., None, None])).sum(
            axis=(2, 3))
    plateau = np.log(np.where(bright, at_top, 1).max(axis=1))
    empty = n_usable == 0
    globals_ = np.stack([ratio, concentration, plateau], axis=1)
    globals_[empty] = np.nan
    stats = np.concatenate([np.log10(noise), np.arcsinh(snr), globals_], axis=1)
    stats[:, :2 * n_bands][~np.concatenate([usable, usable], axis=1)] = np.nan
    return stats


#: Pixels this close to the cutout centre are where `centre_rise` looks
#: for the candidate's own peak.
CENTRE_RADIUS = 1.6


def centre_rise(cutouts, missing=None):
    r"""
    How much the light rises going away from the cutout centre: positive
    when no local maximum of the image lies at the centre, as for a
    cutout centred beside a source rather than on one.

    With :math:`\bar z` the 3x3 box mean of the detection image of
    `input_statistics` (the mean over the usable bands of the pixels in
    noise units), the margin of a pixel :math:`p` is :math:`\bar z_p -
    \max_{q \in N_8(p)} \bar z_q` over its 8 neighbours (positive for a
    local maximum), and the rise is minus the largest margin of the
    pixels within `CENTRE_RADIUS` (1.6) pixels of the centre (15.5, 15.5)
    that are at least half as bright as the brightest of them: negative
    when such a pixel is a local maximum (a candidate at the centre, even
    beside a brighter star), positive and growing with the source's
    signal-to-noise ratio when the light only climbs outwards (the half
    leaves out noise peaks on empty sky beside a compact source's
    wing).

    Parameters
    ----------
    cutouts : array-like
        ``(N, n_bands, 32, 32)`` cutouts in e-/s.
    missing : array-like of bool, optional
        ``(N, n_bands)`` bands without data, left out of the image.

    Returns
    -------
    rise : `~numpy.ndarray`
        float64 ``(N,)``, in units of the noise of one pixel of the
        detection image; NaN for a cutout with no usable band.
    """
    return _rise_of(_detection_image(cutouts, missing))


def _rise_of(image):
    """`centre_rise` of a `_detection_image`."""
    _, _, _, usable, z = image
    n = len(z)
    box = _box3(z) / 9.0
    padded = np.pad(box, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    neighbours = np.max(np.stack([padded[:, 1 + dy:33 + dy, 1 + dx:33 + dx]
                                  for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                                  if dy or dx]), axis=0)
    yy, xx = _radius_grid()
    central = (((yy - _CENTRE) ** 2 + (xx - _CENTRE) ** 2) <= CENTRE_RADIUS ** 2).ravel()
    inner = box.reshape(n, -1)[:, central]
    margin = inner - neighbours.reshape(n, -1)[:, central]
    # only pixels at least half as bright as the brightest central one:
    # a noise peak on empty sky beside the source's wing is no candidate
    brightest = inner.max(axis=1, keepdims=True)
    bright = inner >= brightest - 0.5 * np.abs(brightest)
    rise = -np.where(bright, margin, -np.inf).max(axis=1)
    rise[usable.sum(axis=1) == 0] = np.nan
    return rise


def _shared_covariance(values, groups):
    """Mean per group, and the pooled within-group covariance with a ridge."""
    values = np.asarray(values, dtype=np.float64)
    names = np.unique(groups)
    means = np.stack([values[groups == g].mean(axis=0) for g in names])
    centred = values - means[np.searchsorted(names, groups)]
    covariance = centred.T @ centred / len(values)
    ridge = RIDGE * max(float(np.mean(np.diag(covariance))), 1e-12)
    return means, covariance + ridge * np.eye(len(covariance))


def mahalanobis_features(features, means, precision):
    r"""
    The class-conditional Mahalanobis distance of Lee et al. (2018):
    :math:`d(f) = \min_c \sqrt{(f - \mu_c)^\mathsf{T} P (f - \mu_c)}`.

    Parameters
    ----------
    features : array-like
        ``(N, D)`` penultimate features
        (`~starcnet.models.Predictor.logits` with ``return_features``).
    means : array-like
        ``(K, D)`` class means :math:`\mu_c`.
    precision : array-like
        ``(D, D)`` inverse :math:`P` of the shared covariance.

    Returns
    -------
    distance : `~numpy.ndarray`
        float64 ``(N,)``; NaN where a row of ``features`` is not finite.
    """
    f = np.asarray(features, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if f.ndim != 2 or means.ndim != 2 or f.shape[1] != means.shape[1] \
            or precision.shape != (f.shape[1], f.shape[1]):
        msg = (f'features (N, D), means (K, D) and precision (D, D) do not match: '
               f'{f.shape}, {means.shape}, {precision.shape}')
        raise ValueError(msg)
    finite = np.isfinite(f).all(axis=1)
    f = np.where(finite[:, None], f, 0.0)
    projected = f @ precision
    d2 = ((projected * f).sum(axis=1)[:, None] - 2 * projected @ means.T
          + np.einsum('kd,de,ke->k', means, precision, means)[None])
    return _nan_rows(np.sqrt(np.maximum(d2.min(axis=1), 0.0)), finite)


def mahalanobis_statistics(statistics, mean, covariance):
    r"""
    The Mahalanobis distance of input statistics from their
    in-distribution mean, over the statistics each row has:
    :math:`d(s) = \sqrt{(s - \mu)_A^\mathsf{T} (\Sigma_{AA})^{-1} (s -
    \mu)_A}`, with :math:`A` the finite entries of the row (a missing band
    drops out: the distance of the marginal distribution).

    Parameters
    ----------
    statistics : array-like
        ``(N, M)`` (`input_statistics`).
    mean : array-like
        ``(M,)``.
    covariance : array-like
        ``(M, M)``.

    Returns
    -------
    distance : `~numpy.ndarray`
        float64 ``(N,)``; NaN for a row with no finite statistic.
    """
    s = np.asarray(statistics, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    covariance = np.asarray(covariance, dtype=np.float64)
    if s.ndim != 2 or mean.shape != (s.shape[1],) or covariance.shape != (len(mean),) * 2:
        msg = (f'statistics (N, M), mean (M,) and covariance (M, M) do not match: '
               f'{s.shape}, {mean.shape}, {covariance.shape}')
        raise ValueError(msg)
    valid = np.isfinite(s)
    out = np.full(len(s), np.nan)
    patterns, which = np.unique(valid, axis=0, return_inverse=True)
    for k, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        rows = np.flatnonzero(which.reshape(-1) == k)
        delta = s[np.ix_(rows, pattern)] - mean[pattern]
        sub = covariance[np.ix_(pattern, pattern)]
        solved = np.linalg.solve(sub, delta.T).T
        out[rows] = np.sqrt(np.maximum((solved * delta).sum(axis=1), 0.0))
    return out


def _predictor_of(predictor, what='fit_ood'):
    """The Predictor of a Predictor or of a StarClusterClassifier."""
    inner = getattr(predictor, 'predictor', predictor)
    if not callable(getattr(inner, 'logits', None)):
        msg = (f'{what} needs a starcnet.models.Predictor or a '
               f'StarClusterClassifier, got {type(predictor).__name__}')
        raise TypeError(msg)
    return inner


def _check_quantile(quantile):
    if (isinstance(quantile, bool) or not isinstance(quantile, (int, float, np.number))
            or not 0 < quantile < 1):
        msg = f'quantile must be a number in (0, 1), got {quantile!r}'
        raise ValueError(msg)
    return float(quantile)


def _rounded(array, digits=7):
    """An array as nested lists of floats rounded to ``digits`` significant digits."""
    return np.vectorize(lambda v: float(f'{v:.{digits}g}'), otypes=[float])(
        np.asarray(array, dtype=np.float64)).tolist()


#: The in-distribution quantiles at which the ``evidence`` of a combined
#: ``ood`` entry stores each part's distribution (`tail_log_probability`).
EVIDENCE_QUANTILES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)

#: The parts weighed by the evidence of a combined ``ood`` entry, and the
#: shape of each one's tail (`tail_log_probability`): Gaussian for the
#: Mahalanobis distances, exponential for the `centre_rise`.
EVIDENCE_PARTS = ('features', 'inputs', 'centre_rise')
EVIDENCE_TAILS = {'features': 'quadratic', 'inputs': 'quadratic', 'centre_rise': 'linear'}

#: How the evidence of a combined ``ood`` entry joins its parts' tail
#: log-probabilities: ``'rarest'``, the largest (Tippett's rule: the
#: rarest part decides), or ``'sum'`` (Fisher's).
EVIDENCE_RULES = ('rarest', 'sum')


def tail_log_probability(values, quantiles, grid, tail='linear'):
    r"""
    :math:`\lambda(v) = -\ln P(V \ge v)` of in-distribution values
    :math:`V`, from the values ``grid`` at their ``quantiles``:
    interpolated linearly between grid points, :math:`\ln 2` below the
    first (the median or less), and beyond the last a tail through the
    last grid point and the one of the highest quantile at least 0.09
    below it (0.9 for `EVIDENCE_QUANTILES`): linear in :math:`v`
    (an exponential tail) or, for a distance, in :math:`v^2` (a Gaussian
    one, as a Mahalanobis distance has).  A value far out so gets a tail
    probability far below the last quantile's instead of stopping there.

    Parameters
    ----------
    values : array-like
        ``(N,)`` values of one part of the score.
    quantiles : sequence of float
        Rising, in (0, 1), the first 0.5 (`EVIDENCE_QUANTILES`).
    grid : sequence of float
        Rising strictly, the in-distribution values at ``quantiles``
        (positive for ``tail='quadratic'``).
    tail : {'linear', 'quadratic'}, optional
        The shape of the tail beyond the grid.

    Returns
    -------
    log_probability : `~numpy.ndarray`
        float64 ``(N,)``, :math:`\ge \ln 2`; NaN where ``values`` is.

    Examples
    --------
    >>> from starcnet.models.uncertainty import tail_log_probability
    >>> q, grid = [0.5, 0.9, 0.99], [1.0, 2.0, 3.0]
    >>> [round(float(v), 3) for v in tail_log_probability([0.0, 2.0, 4.0], q, grid)]
    [0.693, 2.303, 6.908]
    """
    v = np.asarray(values, dtype=np.float64)
    q = np.asarray(quantiles, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64)
    if tail not in ('linear', 'quadratic'):
        msg = f"tail must be 'linear' or 'quadratic', got {tail!r}"
        raise ValueError(msg)
    y = -np.log1p(-q)
    below = q <= q[-1] - 0.09 + 1e-9
    k = int(np.flatnonzero(below)[-1]) if below.any() else 0
    power = 1 if tail == 'linear' else 2
    slope = (y[-1] - y[k]) / (g[-1] ** power - g[k] ** power)
    out = np.interp(v, g, y)
    with np.errstate(invalid='ignore', over='ignore'):
        beyond = y[-1] + slope * (np.where(v > g[-1], v, g[-1]) ** power - g[-1] ** power)
        out = np.where(v > g[-1], beyond, out)
    return np.where(np.isfinite(v), np.maximum(out, y[0]), np.nan)


def _evidence_grid(values, quantiles):
    """The strictly increasing grid of `tail_log_probability` from values."""
    values = np.asarray(values, dtype=np.float64)
    grid = np.quantile(values[np.isfinite(values)], quantiles)
    # ties (a part constant over much of the data) made strictly increasing
    step = 1e-6 * max(float(np.ptp(grid)), float(np.max(np.abs(grid))), 1e-12)
    for k in range(1, len(grid)):
        grid[k] = max(grid[k], grid[k - 1] + step)
    return grid


def _evidence(ood_evidence, distances):
    """
    The largest (``rule`` ``'rarest'``) or the summed (``'sum'``) tail
    log-probability of the parts in ``distances``.
    """
    q = ood_evidence['quantiles']
    each = np.stack([tail_log_probability(distances[part], q, ood_evidence[part],
                                          EVIDENCE_TAILS[part])
                     for part in EVIDENCE_PARTS])
    # NaN in any part is NaN: np.max and np.sum both propagate it
    return np.max(each, axis=0) if ood_evidence['rule'] == 'rarest' else np.sum(each, axis=0)


def ood_parts(ood):
    """
    The parts of the score of an ``ood`` entry: a tuple of
    ``'energy'``, ``'features'``, ``'inputs'``.
    """
    kind = ood.get('kind', 'energy')
    return {'energy': ('energy',), 'mahalanobis': ('features',),
            'input_statistics': ('inputs',),
            'combined': ('features', 'inputs')}[kind]


def ood_needs_features(ood):
    """Whether the score of ``ood`` needs the penultimate features."""
    return 'features' in ood_parts(ood)


def _part_scores(part, entry, logits, features, image):
    if part == 'energy':
        return energy_score(logits)
    if part == 'features':
        return mahalanobis_features(features, entry['means'], entry['precision'])
    return mahalanobis_statistics(_statistics_of(image()), entry['mean'],
                                  entry['covariance'])


def ood_score(ood, *, logits=None, features=None, cutouts=None, missing=None,
              return_rise=False):
    r"""
    The out-of-distribution score of a model's ``ood`` entry; higher is
    more unusual.

    By ``ood['kind']`` (a missing ``kind`` reads as ``'energy'``):

    ``'energy'``
        `energy_score` of the calibrated ``logits``.
    ``'mahalanobis'``
        `mahalanobis_features` of the penultimate ``features``.
    ``'input_statistics'``
        `mahalanobis_statistics` of the `input_statistics` of
        ``cutouts`` (in e-/s, with ``missing``).
    ``'combined'``
        :math:`M = \max(d_f / s_f, d_s / s_s)`: both distances, each
        divided by its own scale (its quantile on in-distribution cutouts,
        stored as ``ood['features']['scale']`` and
        ``ood['inputs']['scale']``).  An entry with ``evidence``
        (``fit_ood(..., evidence=...)``) scores :math:`L / s_L` instead,
        from :math:`\lambda_i(d_i)`, the `tail_log_probability` of each
        of the features distance, the input statistics distance and the
        `centre_rise` (:math:`-\ln` of the fraction of in-distribution
        cutouts at least as far out in that part), with
        ``ood['evidence']['rule']``:

        * ``'rarest'``: :math:`L = \max_i \lambda_i` (Tippett's rule):
          the rarest part decides, as in the larger part, but each part
          is weighed by how rare its value is rather than by its
          distance over a quantile;
        * ``'sum'``: :math:`L = \sum_i \lambda_i` (Fisher's way of adding
          the evidence: a cutout a little unusual in each part adds up,
          and one part far out is enough, but the sum's in-distribution
          tail is long);

        and :math:`s_L` its in-distribution quantile
        (``ood['evidence']['scale']``).

    Parameters
    ----------
    ood : dict
        The entry (`fit_ood`).
    logits, features, cutouts, missing : array-like, optional
        What the kind needs: ``logits`` ``(N, C)`` for energy,
        ``features`` ``(N, D)`` for the features part, ``cutouts``
        ``(N, n_bands, 32, 32)`` (and optionally ``missing``) for the
        input part.
    return_rise : bool, optional
        Also return the `centre_rise` of ``cutouts`` (which it then
        needs), from the same detection image as the input statistics.

    Returns
    -------
    score : `~numpy.ndarray`
        float64 ``(N,)``; NaN where it cannot be computed (a row that is
        not finite).  Compare with ``ood['threshold']`` (`ood_flags`).
    rise : `~numpy.ndarray`
        With ``return_rise``: float64 ``(N,)``, the `centre_rise`
        (`off_centre_flags`).
    """
    given = {'energy': logits, 'features': features, 'inputs': cutouts}
    names = {'energy': 'logits', 'features': 'features', 'inputs': 'cutouts'}
    parts = ood_parts(ood)
    lacking = [names[part] for part in parts if given[part] is None]
    if return_rise and cutouts is None and 'cutouts' not in lacking:
        lacking.append('cutouts')
    if lacking:
        msg = f'an ood entry of kind {ood.get("kind", "energy")!r} needs {lacking}'
        raise ValueError(msg)
    images = []

    def image():
        # the detection image, made once for the input statistics and the rise
        if not images:
            images.append(_detection_image(cutouts, missing))
        return images[0]

    score = _joined_score(ood, parts, logits, features, image)
    return (score, _rise_of(image())) if return_rise else score


def _joined_score(ood, parts, logits, features, image):
    """`ood_score` of an entry, ``image`` making the detection image once."""
    if len(parts) == 1:
        return _part_scores(parts[0], ood.get(parts[0]), logits, features, image)
    distances = {part: _part_scores(part, ood[part], logits, features, image)
                 for part in parts}
    with np.errstate(invalid='ignore'):
        # NaN if any part is NaN
        largest = np.max(np.stack([distances[part] / ood[part]['scale'] for part in parts]),
                         axis=0)
        if 'evidence' not in ood:
            return largest
        distances['centre_rise'] = _rise_of(image())
        joined = _evidence(ood['evidence'], distances) / ood['evidence']['scale']
        return np.where(np.isnan(largest), np.nan, joined)


def fit_ood(predictor, cutouts, labels=None, missing=None, *, kind='combined',
            quantile=0.99, fitted_on='', evidence=None):
    r"""
    Fit the out-of-distribution score of a model on in-distribution
    cutouts: the ``ood`` entry of its metadata.

    For ``kind='energy'`` the threshold is the ``quantile`` of the energy
    scores of all the cutouts.  For the Mahalanobis kinds the cutouts are
    split in two, alternately (no random draw): the moments (class means
    and shared covariance of the features, Lee et al. 2018; mean and
    covariance of the `input_statistics`) are fitted on the even-numbered
    cutouts, and the scales and the threshold are quantiles of the
    distances of the odd-numbered ones, cutouts the moments have not
    seen, so that the false-alarm rate on new in-distribution cutouts is
    ``1 - quantile`` rather than more.  Fit it on validation cutouts the
    model was not trained on.

    Parameters
    ----------
    predictor : `~starcnet.models.Predictor` or `~starcnet.StarClusterClassifier`
        The model.
    cutouts : array-like
        ``(N, n_bands, 32, 32)`` in-distribution cutouts in e-/s.
    labels : array-like of int, optional
        ``(N,)`` classes 1..C of the cutouts, for the class means of the
        features; default: the model's own classes (argmax of the logits).
    missing : array-like of bool, optional
        ``(N, n_bands)`` bands without data.
    kind : {'combined', 'mahalanobis', 'input_statistics', 'energy'}, optional
        The score (see `ood_score`).
    quantile : float, optional
        In (0, 1): the fraction of in-distribution cutouts below the
        threshold (0.99: 1% flagged).
    fitted_on : str, optional
        What the cutouts were, recorded with the entry.
    evidence : {None, 'rarest', 'sum'}, optional
        For ``kind='combined'``: score the evidence of the parts
        (`EVIDENCE_RULES`, see `ood_score`), with the `centre_rise` as a
        third part, instead of the larger distance.  Both see cutouts
        centred beside a source rather than on it far better; ``'sum'``
        also sees cutouts a little unusual in several ways at once, but
        the in-distribution tail of the sum is long.  At the same false
        alarm rate both flag far fewer cutouts that are far out in one
        part only, a little beyond its quantile (pixel values in counts,
        blank sky, shuffled bands), than the larger part: measured on the
        uncertainty page of the documentation.  Default None: the larger
        part.

    Returns
    -------
    ood : dict
        The ``ood`` entry, checked by `~starcnet.models.schema.check_ood`:
        ``kind``, ``threshold``, ``quantile``, ``fitted_on``,
        ``n_cutouts`` and, by kind, ``features`` (``means``,
        ``precision``; ``scale`` when combined) and ``inputs``
        (``statistics``, ``mean``, ``covariance``; ``scale`` when
        combined), for ``'combined'`` ``centre`` (``threshold``: the
        ``quantile`` of the `centre_rise` of all the cutouts with finite
        output, for `off_centre_flags`: it has no moments to hold out
        from), and with ``evidence`` its ``rule``, ``quantiles``
        (`EVIDENCE_QUANTILES`), the held-out values of each of
        `EVIDENCE_PARTS` at them and ``scale``; the numbers rounded to 7
        significant digits (the grids to 9).  Pass it as
        ``metadata={'ood': ood, ...}`` to `~starcnet.models.save_model` or
        ``dataclasses.replace(info, ood=ood)``.

    Raises
    ------
    ValueError
        If ``kind`` or ``quantile`` is not valid (``evidence`` with another
        kind than ``'combined'``; ``'energy'`` for a deep
        ensemble: the energy of its mean probability is the same for every
        cutout), or too few cutouts have finite output (at least 4, and
        for the input statistics more than their number with every
        statistic finite).
    """
    from .schema import OOD_KINDS

    quantile = _check_quantile(quantile)
    if kind not in OOD_KINDS:
        msg = f'kind must be one of {OOD_KINDS}, got {kind!r}'
        raise ValueError(msg)
    if evidence is not None and evidence not in EVIDENCE_RULES:
        msg = f'evidence must be None or one of {EVIDENCE_RULES}, got {evidence!r}'
        raise ValueError(msg)
    if evidence is not None and kind != 'combined':
        msg = f"evidence={evidence!r} needs kind='combined' (the parts it weighs), got {kind!r}"
        raise ValueError(msg)
    inner = _predictor_of(predictor)
    if kind == 'energy' and inner.is_ensemble:
        msg = ("kind='energy' does not apply to a deep ensemble: its logits are the "
               'log of the mean member probability, whose energy is 0 for every '
               "cutout; use kind='combined', 'mahalanobis' or 'input_statistics'")
        raise ValueError(msg)
    if 'features' in ood_parts({'kind': kind}):
        logits, features = inner.logits(cutouts, missing, return_features=True)
    else:
        logits, features = inner.logits(cutouts, missing), None
    return _fit_from_outputs(logits, features, cutouts, labels, missing, kind=kind,
                             quantile=quantile, fitted_on=fitted_on, evidence=evidence)


def _fit_evidence(parts, quantile, rule):
    """
    The ``evidence`` of a combined entry from the held-out cutouts' part
    values ``parts``: its ``rule``, each part's values at
    `EVIDENCE_QUANTILES`, and the ``quantile`` of their joined tail
    log-probability as its scale.
    """
    stored = {'rule': rule, 'quantiles': list(EVIDENCE_QUANTILES)}
    for part in EVIDENCE_PARTS:
        stored[part] = _rounded(_evidence_grid(parts[part], EVIDENCE_QUANTILES), 9)
    stored['scale'] = float(f'{np.nanquantile(_evidence(stored, parts), quantile):.7g}')
    return stored


def _fit_from_outputs(logits, features, cutouts, labels, missing, *, kind, quantile,
                      fitted_on, evidence=None):
    """`fit_ood` from the network's outputs (one pass for several kinds)."""
    from .schema import check_ood

    parts = ood_parts({'kind': kind})
    finite = np.isfinite(logits).all(axis=1)
    if kind == 'energy':
        scores = energy_score(logits)[finite]
        if not scores.size:
            msg = 'fit_ood needs cutouts with finite network output; none had'
            raise ValueError(msg)
        return check_ood(_ood_entry(scores, quantile, fitted_on), 'fit_ood')
    cutouts = np.asarray(cutouts, dtype=np.float32)
    if labels is None:
        labels = np.where(finite, np.argmax(np.where(finite[:, None], logits, 0), 1) + 1, 0)
    labels = np.asarray(labels).reshape(-1)
    if labels.shape != (len(cutouts),):
        msg = f'labels must have one class per cutout ({len(cutouts)}), got {labels.shape}'
        raise ValueError(msg)
    index = np.flatnonzero(finite)
    moments, held = index[0::2], index[1::2]
    if len(held) < 2:
        msg = (f'fit_ood needs at least 4 cutouts with finite network output, '
               f'got {len(index)}')
        raise ValueError(msg)
    miss = None if missing is None else np.asarray(missing, dtype=bool)

    def subset(rows):
        return None if miss is None else miss[rows]

    entry = {'kind': kind}
    distances = []
    if 'features' in parts:
        means, covariance = _shared_covariance(features[moments], labels[moments])
        stored = {'means': _rounded(means), 'precision': _rounded(np.linalg.inv(covariance))}
        distances.append(mahalanobis_features(features[held], stored['means'],
                                              stored['precision']))
        entry['features'] = stored
    if 'inputs' in parts:
        # the detection images of both halves, each made once for the
        # statistics and the centre rise
        moments_image = _detection_image(cutouts[moments], subset(moments))
        stats = _statistics_of(moments_image)
        complete = np.isfinite(stats).all(axis=1)
        if complete.sum() <= stats.shape[1]:
            msg = (f'fit_ood needs more than {stats.shape[1]} cutouts with every input '
                   f'statistic finite to fit their covariance, got {int(complete.sum())}')
            raise ValueError(msg)
        mean, covariance = _shared_covariance(stats[complete],
                                              np.zeros(int(complete.sum())))
        stored = {'statistics': statistics_names(cutouts.shape[1]),
                  'mean': _rounded(mean[0]), 'covariance': _rounded(covariance)}
        held_image = _detection_image(cutouts[held], subset(held))
        distances.append(mahalanobis_statistics(
            _statistics_of(held_image), stored['mean'], stored['covariance']))
        entry['inputs'] = stored
    if len(parts) == 2:
        for part, distance in zip(parts, distances):
            entry[part]['scale'] = float(f'{np.nanquantile(distance, quantile):.7g}')
        held_rise = _rise_of(held_image)
        # the rise has no fitted moments: all the cutouts set its quantile
        all_rise = np.concatenate([held_rise, _rise_of(moments_image)])
        entry['centre'] = {'threshold': float(f'{np.nanquantile(all_rise, quantile):.7g}')}
        with np.errstate(invalid='ignore'):
            score = np.max(np.stack([d / entry[p]['scale']
                                     for p, d in zip(parts, distances)]), axis=0)
        if evidence is not None:
            held_parts = dict(zip(parts, distances), centre_rise=held_rise)
            entry['evidence'] = stored = _fit_evidence(held_parts, quantile, evidence)
            score = np.where(np.isnan(score), np.nan,
                             _evidence(stored, held_parts) / stored['scale'])
    else:
        score = distances[0]
    score = score[np.isfinite(score)]
    entry.update(threshold=float(np.quantile(score, quantile)), quantile=quantile,
                 fitted_on=str(fitted_on), n_cutouts=int(len(index)))
    return check_ood(entry, 'fit_ood')


def fit_ood_threshold(predictor, cutouts, missing=None, *, quantile=0.99,
                      fitted_on=''):
    """
    The energy OOD threshold of a model: a quantile of the energy scores
    of in-distribution cutouts (``fit_ood(..., kind='energy')``).

    With the default ``quantile=0.99``, 1% of cutouts like ``cutouts``
    are flagged `~starcnet.CutoutFlag.OUT_OF_DISTRIBUTION` (the false
    alarm rate on in-distribution data).  See `fit_ood` for the
    Mahalanobis scores, which separate shifted inputs much better.

    Parameters
    ----------
    predictor : `~starcnet.models.Predictor` or `~starcnet.StarClusterClassifier`
        The model (its calibrated logits are scored, as the classifier
        scores them).
    cutouts : array-like
        ``(N, n_bands, 32, 32)`` in-distribution cutouts in e-/s.
    missing : array-like of bool, optional
        ``(N, n_bands)`` bands without data.
    quantile : float, optional
        In (0, 1).
    fitted_on : str, optional
        What the cutouts were, recorded with the threshold.

    Returns
    -------
    ood : dict
        ``{'kind': 'energy', 'threshold': float, 'quantile': float,
        'fitted_on': str, 'n_cutouts': int}``.

    Raises
    ------
    ValueError
        If ``quantile`` is not in (0, 1) or no cutout has a finite score.
    """
    _predictor_of(predictor, 'fit_ood_threshold')
    return fit_ood(predictor, cutouts, missing=missing, kind='energy', quantile=quantile,
                   fitted_on=fitted_on)


def _ood_entry(scores, quantile, fitted_on):
    """The metadata entry of the ``quantile`` of finite energy ``scores``."""
    return {'kind': 'energy',
            'threshold': float(np.quantile(np.asarray(scores, np.float64), quantile)),
            'quantile': float(quantile), 'fitted_on': str(fitted_on),
            'n_cutouts': int(np.size(scores))}


def ood_flags(scores, ood):
    """
    Where scores pass a model's OOD threshold (``score > threshold``).

    Parameters
    ----------
    scores : array-like
        `ood_score` values.
    ood : dict
        The model's ``ood`` entry (`fit_ood`).

    Returns
    -------
    flags : `~numpy.ndarray`
        bool, False where a score is NaN.
    """
    with np.errstate(invalid='ignore'):
        return np.asarray(scores, dtype=np.float64) > float(ood['threshold'])


def off_centre_flags(rise, ood):
    """
    Where the `centre_rise` passes the threshold of a model's combined
    ``ood`` entry (``rise > ood['centre']['threshold']``): no source at
    the cutout centre, `~starcnet.CutoutFlag.OFF_CENTRE`.

    The threshold is the entry's ``quantile`` of the rise of
    in-distribution cutouts (`fit_ood`), so that, like the OOD flag, it
    flags ``1 - quantile`` of them: mostly candidates beside a much
    brighter source with little light at their own position.

    Parameters
    ----------
    rise : array-like
        `centre_rise` values (``ood_score(..., return_rise=True)``).
    ood : dict
        The model's ``ood`` entry.

    Returns
    -------
    flags : `~numpy.ndarray`
        bool, False where ``rise`` is NaN, and everywhere for an entry
        without ``centre`` (not combined, or fitted before starcnet 0.2).
    """
    rise = np.asarray(rise, dtype=np.float64)
    if 'centre' not in ood:
        return np.zeros(rise.shape, dtype=bool)
    with np.errstate(invalid='ignore'):
        return rise > float(ood['centre']['threshold'])


def _review_flag_weights():
    from ..cutouts import CutoutFlag

    return {CutoutFlag.OUT_OF_DISTRIBUTION: 0.5, CutoutFlag.OFF_CENTRE: 0.5,
            CutoutFlag.MISSING_BAND: 0.25, CutoutFlag.EDGE: 0.25,
            CutoutFlag.NONFINITE: 0.25, CutoutFlag.MASKED: 0.25}


#: The weight :math:`w_f` of each `~starcnet.CutoutFlag` in `review_priority`
#: (flags not listed weigh 0): a convention, not a measured figure.
REVIEW_FLAG_WEIGHTS = _review_flag_weights()


def review_priority(proba, flags=None, *, cluster_classes=(0, 1)):
    r"""
    How much a source calls for a look by eye: a number in [0, 1],
    higher first.

    With :math:`p_c` the ``C`` class probabilities of a source (the
    classifier's ``prob_class1..4``: with Monte Carlo dropout the sample
    means, whose entropy includes the samples' disagreement) and
    :math:`p_\mathrm{cl} = p_1 + p_2` the cluster probability:

    .. math::

       u &= H(p) / \log C = -\textstyle\sum_c p_c \log p_c / \log C
            \quad\text{(ambiguity of the class, 0 to 1)}, \\
       b &= 1 - |2 p_\mathrm{cl} - 1|
            \quad\text{(nearness to the cluster / non-cluster boundary, 0 to 1)}, \\
       a &= (u + b) / 2, \\
       \mathrm{review\_priority} &= 1 - (1 - a) \textstyle\prod_{f \in \mathrm{flags}}
            (1 - w_f),

    with the flag weights :math:`w_f` of `REVIEW_FLAG_WEIGHTS`:
    0.5 for each of ``OUT_OF_DISTRIBUTION`` and ``OFF_CENTRE``, 0.25 for
    each of ``MISSING_BAND``, ``EDGE``, ``NONFINITE`` and ``MASKED`` (a
    class from a repaired or incomplete cutout), 0 for the others.  Read
    it as the chance that at least one reason calls for a look: without
    flags it is :math:`a`; a source flagged out of distribution or off
    centre is at least 0.5, however sure the network is (its confidence
    is what cannot be trusted there).

    A source with :math:`p = (0.49, 0, 0, 0.51)` (half cluster, half not)
    has :math:`a = 0.74`; one with :math:`p = (0.97, 0.01, 0.01, 0.01)`
    has :math:`a = 0.08` (:math:`u = 0.12`, :math:`b = 0.04`).

    Parameters
    ----------
    proba : array-like
        ``(N, C)`` class probabilities (rows sum to 1).
    flags : array-like of int, optional
        ``(N,)`` `~starcnet.CutoutFlag` bits (the ``starcnet_flags``
        column); default none set.
    cluster_classes : sequence of int, optional
        The columns of ``proba`` that are clusters (0-based; default the
        LEGUS classes 1 and 2).

    Returns
    -------
    priority : `~numpy.ndarray`
        float64 ``(N,)`` in [0, 1]; NaN where a row of ``proba`` is not
        finite.

    Examples
    --------
    >>> from starcnet.models.uncertainty import review_priority
    >>> review_priority([[0.49, 0, 0, 0.51], [0.97, 0.01, 0.01, 0.01]]).round(3)
    array([0.74, 0.08])
    >>> from starcnet import CutoutFlag
    >>> review_priority([[0.97, 0.01, 0.01, 0.01]],
    ...                 [CutoutFlag.OUT_OF_DISTRIBUTION]).round(3)
    array([0.54])
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 2:
        msg = ('proba must have shape (N, C): the probabilities of N sources over '
               f'C >= 2 classes, got {proba.shape}')
        raise ValueError(msg)
    n, n_classes = proba.shape
    columns = np.asarray(cluster_classes, dtype=np.int64).reshape(-1)
    if (not columns.size or columns.min() < 0 or columns.max() >= n_classes
            or np.unique(columns).size != columns.size):
        msg = (f'cluster_classes must be distinct columns of proba (0 to {n_classes - 1}), '
               f'got {list(cluster_classes)!r}')
        raise ValueError(msg)
    finite = np.isfinite(proba).all(axis=1)
    clean = np.where(finite[:, None], np.clip(proba, 0.0, 1.0), 1.0 / n_classes)
    u = np.clip(entropy(clean) / np.log(n_classes), 0.0, 1.0)
    b = np.clip(1.0 - np.abs(2.0 * clean[:, columns].sum(axis=1) - 1.0), 0.0, 1.0)
    keep = 1.0 - (u + b) / 2.0
    if flags is not None:
        flags = np.asarray(flags)
        if flags.shape != (n,) or flags.dtype.kind not in 'iu':
            msg = (f'flags must be {n} integer CutoutFlag values (the starcnet_flags '
                   f'column), got shape {flags.shape} and dtype {flags.dtype}')
            raise ValueError(msg)
        flags = flags.astype(np.int64)
        for flag, weight in REVIEW_FLAG_WEIGHTS.items():
            keep = np.where(flags & int(flag), keep * (1.0 - weight), keep)
    return _nan_rows(1.0 - keep, finite)


def ood_summary(ood):
    """
    The entry without its matrices (kind, threshold, quantile, fitted_on,
    n_cutouts, the scales of its parts and the centre threshold): what a
    catalog records.
    """
    summary = {key: ood[key] for key in ('kind', 'threshold', 'quantile', 'fitted_on',
                                         'n_cutouts') if key in ood}
    for part in ('features', 'inputs'):
        if part in ood and 'scale' in ood[part]:
            summary[f'{part}_scale'] = ood[part]['scale']
    if 'centre' in ood:
        summary['centre_threshold'] = ood['centre']['threshold']
    if 'evidence' in ood:
        summary['evidence_rule'] = ood['evidence']['rule']
        summary['evidence_scale'] = ood['evidence']['scale']
    return summary
