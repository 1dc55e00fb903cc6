# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Atomic file output: write to a temporary file beside the target, then
move it into place, so a failure never leaves half a file.
"""

import os
import tempfile

__all__ = ['atomic_write']


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, write, *, overwrite=False, suffix=''):
    """
    Call ``write(tmp_path)`` and move the result to ``path``.

    Parameters
    ----------
    path : path-like
        The final file.
    write : callable
        Writes the whole output to the path it is given.
    overwrite : bool, optional
        Replace an existing ``path``; without it an existing file is an
        error and is left untouched.
    suffix : str, optional
        Suffix of the temporary file (some writers infer the format
        from it).
    """
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        msg = f'{path!r} already exists; use overwrite=True to replace it'
        raise FileExistsError(msg)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        msg = f'cannot write {path!r}: directory {directory!r} does not exist'
        raise FileNotFoundError(msg)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.starcnet-', suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give the output the
        # permissions any new file gets here.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
