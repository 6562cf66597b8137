"""The instance folder is private: the folder 0700, every file LinkTime creates in it 0600.

It holds the SQLite database (with its -wal/-shm files), the queue, the generated development secrets and, in
development, ``mail/*.eml`` (password-reset links among them). Files are created with these modes from the
start (not chmod-ed afterwards, which would leave a moment of exposure); SQLite gives its -wal and -shm files
the mode of the database file. ``tighten`` narrows the modes of an instance folder made by an older version.
This module imports nothing of the app, so app.config can use it.
"""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike) -> Path:
    """Create folder ``path`` (mode 0700) when it is missing; an existing folder is left as it is."""
    path = Path(path)
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it first
            pass
    return path


def private_file(path: str | os.PathLike) -> Path:
    """Create an empty file ``path`` with mode 0600 when it is missing (a database file before SQLite opens it)."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    return path


def write_private(path: str | os.PathLike, data: bytes) -> Path:
    """Write a new file ``path`` (mode 0600) holding ``data``."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


def _narrow(path: Path, mode: int) -> None:
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid() or not stat.S_IMODE(info.st_mode) & 0o077:
            return
        os.chmod(path, stat.S_IMODE(info.st_mode) & mode)
    except OSError as exc:
        log.warning("could not narrow the permissions of %s: %s", path, exc)


def tighten(instance_dir: str | os.PathLike) -> None:
    """Take group and other access away from an existing instance folder, the files in it and its mail
    folder (what LinkTime itself put there). A missing folder is not created."""
    root = Path(instance_dir)
    if not root.is_dir():
        return
    _narrow(root, DIR_MODE)
    try:
        entries = list(root.iterdir())
        mail = root / "mail"
        if mail.is_dir() and not mail.is_symlink():
            _narrow(mail, DIR_MODE)
            entries += [p for p in mail.iterdir() if p.suffix == ".eml"]
    except OSError as exc:
        log.warning("could not list %s: %s", root, exc)
        return
    for path in entries:
        if path.is_file() and not path.is_symlink():
            _narrow(path, FILE_MODE)
