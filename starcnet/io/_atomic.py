# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Atomic file output: write to a temporary file beside the target, then
move it into place, so a failure never leaves half a file.

Without ``overwrite`` the move is exclusive (a hard link, or a target
created with ``O_EXCL`` where the file system has no hard links): of
several writers of one new path exactly one succeeds, the others get
`FileExistsError`.  Temporary files are named
``.starcnet-<pid>-<random>-<target name><suffix>``, so that a later
write of the same target removes those a killed writer left behind.
"""

import errno
import os
import re
import tempfile
import time

__all__ = ['atomic_write']

#: A temporary file of a writer whose process is gone is removed by the
#: next write of the same target once it is this old (seconds since its
#: last modification): a writer on another host sharing the folder keeps
#: modifying its file while it writes.
STALE_SECONDS = 600.0

_PREFIX = '.starcnet-'
# tempfile's random part: 8 of [a-z0-9_], never '-'
_TEMP_NAME = re.compile(r'\.starcnet-(\d+)-[a-z0-9_]{8}-(.*)\Z', re.DOTALL)
# the target's name in a temporary name, shortened to keep it under the
# usual 255-byte limit of file names
_NAME_CHARS = 120

# errnos of os.link on file systems without hard links (FAT, some
# network shares, some container overlays)
_NO_LINKS = {errno.EPERM, errno.EXDEV, errno.ENOSYS, errno.EMLINK,
             getattr(errno, 'ENOTSUP', errno.EPERM),
             getattr(errno, 'EOPNOTSUPP', errno.EPERM)}


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _exists_error(path):
    msg = f'{path!r} already exists; use overwrite=True to replace it'
    return FileExistsError(errno.EEXIST, msg, path)


def _alive(pid):
    """Whether a process of this id runs (or may run: not ours to signal)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OverflowError:     # not a pid this system can have
        return False
    except OSError:           # e.g. another user's process: not provably dead
        return True
    return True


def _remove_stale(directory, tail, now=None):
    """
    Remove the temporary files of ``tail`` (target name + suffix) in
    ``directory`` left by processes that are gone, once older than
    `STALE_SECONDS`.  Never a file of a running process.
    """
    if os.name == 'nt':    # os.kill(pid, 0) would terminate the process there
        return
    now = time.time() if now is None else now
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not name.startswith(_PREFIX):
            continue
        match = _TEMP_NAME.match(name)
        if match is None or match.group(2) != tail:
            continue
        pid = int(match.group(1))
        if pid <= 0 or _alive(pid):
            continue
        full = os.path.join(directory, name)
        try:
            if now - os.lstat(full).st_mtime < STALE_SECONDS:
                continue
            os.remove(full)
        except OSError:
            pass


def _move_exclusive(tmp, path):
    """
    Move ``tmp`` to the new file ``path``; `FileExistsError` if ``path``
    exists, even if it appeared a moment ago.
    """
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise _exists_error(path) from None
    except (AttributeError, NotImplementedError):
        pass
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
    else:
        try:
            os.remove(tmp)
        except OSError:
            pass
        return
    # no hard links here: reserve the name exclusively, then replace the
    # reserved (empty) file by the output
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise _exists_error(path) from None
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.remove(path)
        raise


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
        error and is left untouched, also one that another writer
        creates while this one writes: the final move is exclusive.
    suffix : str, optional
        Suffix of the temporary file (some writers infer the format
        from it).

    Raises
    ------
    FileExistsError
        Without ``overwrite``, if ``path`` exists before or when the
        output is moved into place (the temporary file is removed).
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    path = os.fspath(path)
    if os.path.lexists(path) and not overwrite:
        raise _exists_error(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        msg = f'cannot write {path!r}: directory {directory!r} does not exist'
        raise FileNotFoundError(msg)
    tail = os.path.basename(path)[:_NAME_CHARS] + suffix
    _remove_stale(directory, tail)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'{_PREFIX}{os.getpid()}-',
                               suffix=f'-{tail}')
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give the output the
        # permissions any new file gets here.
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, path)
        else:
            _move_exclusive(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
