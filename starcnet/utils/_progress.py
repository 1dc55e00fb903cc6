# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Optional progress bars with tqdm.
"""

__all__ = ['add_progress_bar']


def add_progress_bar(iterable, *, total=None, desc=None, progress_bar=False,
                     **kwargs):
    """
    Wrap an iterable in a tqdm progress bar when one is asked for.

    Parameters
    ----------
    iterable : iterable
        What to iterate over.
    total : int, optional
        Number of items, when ``len(iterable)`` does not give it.
    desc : str, optional
        Text shown before the bar.
    progress_bar : bool, optional
        Show a bar (on standard error).  Default: return ``iterable``
        unchanged.
    **kwargs
        Passed to ``tqdm.tqdm`` (e.g. ``unit``, ``leave``, ``file``).

    Returns
    -------
    iterable : iterable
        ``iterable`` itself, or a ``tqdm`` iterator over it.

    Raises
    ------
    ImportError
        If ``progress_bar=True`` but tqdm is not installed.  An explicit
        request is not silently ignored; callers that only want a bar
        when one is available (the command line) check
        ``starcnet.utils._optional_deps.HAS_TQDM`` first.
    """
    if not progress_bar:
        return iterable
    from . import _optional_deps

    if not _optional_deps.HAS_TQDM:
        msg = ('progress_bar=True needs the tqdm package: pip install tqdm '
               '(or pip install "starcnet[all]")')
        raise ImportError(msg)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, **kwargs)
