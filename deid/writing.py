"""How deid writes files: whole or not at all, and never through a link.

Every file is written to an unpredictable temporary name, created
exclusively (`O_EXCL`) and never through a symbolic link (`O_NOFOLLOW`), in
the target folder, then renamed over the real name (a rename replaces a
link planted there rather than following it). Folders deid creates below a
root the user named (OUT/<patient>/<study>/<series>) are opened one by one
without following links, so a link planted at OUT/<pseudonym> cannot send
outputs elsewhere. What the user named (OUT, --report-dir...) is theirs and
may be a link.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, TextIO

from deid.errors import UsageError, folder_error
from deid.paths import resolved

TMP_SUFFIX = ".deid-tmp"
# `.<name>.<16 hex digits>.deid-tmp`; the sweep also takes the `.<pid>` form
# earlier versions used. Outputs end in .dcm, so no output can match.
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]+" + re.escape(TMP_SUFFIX) + "$")
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_FOLDER = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC


def open_folder(folder: Path, root: Path | None = None) -> int:
    """A descriptor of `folder`, created if missing. Below `root` (the part
    deid names) no component may be a symbolic link: ELOOP/ENOTDIR then."""
    if root is None:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, _FOLDER)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, _FOLDER)
    try:
        for part in folder.relative_to(root).parts:
            child = _open_or_make(part, fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_or_make(name: str, parent: int) -> int:
    """The folder `name` in `parent`, made if missing; never a link. Opened
    first: every output after a series' first finds its folders made."""
    try:
        return os.open(name, _FOLDER | _NO_FOLLOW, dir_fd=parent)
    except FileNotFoundError:
        with suppress(FileExistsError):  # another worker made it meanwhile
            os.mkdir(name, 0o777, dir_fd=parent)
        return os.open(name, _FOLDER | _NO_FOLLOW, dir_fd=parent)


def temporary_name(name: str) -> str:
    return f".{name[:64]}.{secrets.token_hex(8)}{TMP_SUFFIX}"


@contextmanager
def atomic_writer(
    target: Path,
    binary: bool = False,
    durable: bool = True,
    exclusive: bool = False,
    root: Path | None = None,
    mode: int = 0o666,
) -> Iterator[TextIO | BinaryIO]:
    """A file written under a temporary name and renamed when the block ends
    without error; removed otherwise. Text unless `binary`; streamed, for
    outputs too big to build in memory first (reports of large batches).
    `exclusive`: raise FileExistsError rather than replace an existing file,
    decided atomically. `root`: folders below it are not followed if links.
    `mode` before the umask (0o600 for files only their owner may read)."""
    folder = open_folder(target.parent, root)
    tmp = temporary_name(target.name)
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW | _CLOEXEC, mode, dir_fd=folder
        )
        try:
            with os.fdopen(fd, "wb") if binary else open(fd, "w", encoding="utf-8") as fh:
                yield fh
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            if exclusive:
                _publish_exclusive(tmp, target.name, folder)
            else:
                os.replace(tmp, target.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder)
            raise
    finally:
        os.close(folder)


def atomic_write(
    target: Path,
    data: bytes,
    durable: bool = False,
    exclusive: bool = False,
    root: Path | None = None,
) -> None:
    """Write bytes whole under `target` (see `atomic_writer`). `durable` also
    forces the bytes to disk before the rename (survives power loss; costs a
    disk flush per file). The batch pipeline does not need it for outputs:
    its journal records each output's size and a resumed run redoes any file
    that does not match."""
    with atomic_writer(target, True, durable, exclusive, root) as fh:
        fh.write(data)


# A hard link publishes a file only if its name is free, atomically; where the
# file system has no hard links, an existence check before the rename is the
# best there is (a window in which two writers can both pass it).
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV}


def _publish_exclusive(tmp: str, name: str, folder: int) -> None:
    try:
        os.link(tmp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise  # FileExistsError among them
        try:
            os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
            return
        raise FileExistsError(errno.EEXIST, "file exists", name) from None
    os.unlink(tmp, dir_fd=folder)


def read_no_follow(path: Path) -> bytes:
    """A file's bytes, refusing a symbolic link in its place."""
    with os.fdopen(os.open(path, os.O_RDONLY | _NO_FOLLOW | _CLOEXEC), "rb") as fh:
        return fh.read()


def open_no_follow(path: Path) -> TextIO:
    """A text file (CSV: newlines as written) to read, refusing a link."""
    fd = os.open(path, os.O_RDONLY | _NO_FOLLOW | _CLOEXEC)
    return open(fd, newline="", encoding="utf-8")


def open_append(path: Path, mode: int = 0o600) -> TextIO:
    """A text file to append to, created if missing, never through a link."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NO_FOLLOW | _CLOEXEC
    return open(os.open(path, flags, mode), "a", newline="", encoding="utf-8")


def is_temporary(name: str) -> bool:
    """A name deid gives its temporaries (never an output's: those end .dcm)."""
    return _TEMPORARY.match(name) is not None


def remove_stale_temporaries(out: Path) -> int:
    """Temporaries left by a killed run are never valid outputs. Only regular
    files named as deid names temporaries go; links are not followed."""
    count = 0
    for folder, _dirs, files in os.walk(out, followlinks=False):
        for name in files:
            if not is_temporary(name):
                continue
            path = os.path.join(folder, name)
            try:
                if os.path.isfile(path) and not os.path.islink(path):
                    os.unlink(path)
                    count += 1
            except OSError:
                continue  # gone meanwhile, or not ours to remove: not an output either
    return count


def open_writable(folder: Path) -> int:
    """A descriptor of `folder`, made if missing; one line saying why where
    it cannot be (a file in its place: exit 2; a permission, a full disk: 3)."""
    try:
        return open_folder(folder)
    except OSError as exc:
        raise folder_error(f"cannot write into {folder}", exc) from None


# Folder locks held now. A process forked meanwhile (a caller's own pool,
# while deid runs in a thread) would inherit them and hold the lock after
# the run ends: every child closes its copies as it starts. deid's own
# workers close theirs too; the lock stays with the process that took it.
_HELD_LOCKS: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in list(_HELD_LOCKS):
        with suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


@contextmanager
def exclusive(*folders: Path) -> Iterator[None]:
    """Hold an exclusive lock on each folder for the block (flock on the
    folder itself: nothing is added to it). A second deid writing into one
    of them is refused at once with one line, rather than the two runs
    sweeping each other's temporaries and spools."""
    with ExitStack() as stack:
        seen: set[tuple[int, int]] = set()
        for folder in folders:
            fd = open_writable(folder)
            _HELD_LOCKS.add(fd)
            stack.callback(_release, fd)
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(
                    f"another deid is writing into {folder}: wait for it to finish, or choose "
                    "another folder"
                ) from None
            except OSError:
                continue  # a file system without locks: nothing to hold
        yield


def _release(fd: int) -> None:
    _HELD_LOCKS.discard(fd)
    os.close(fd)


def refuse_inside_inputs(inputs: Iterable[Path], folders: dict[str, Path | None], who: str) -> None:
    """Reports, linkage tables and previews never land in an input folder:
    they would be read as input by the next run, and re-identification
    tables would travel with the data. One line naming the option."""
    for given in inputs:
        if not given.is_dir():
            continue
        root = resolved(given)
        for option, folder in folders.items():
            if folder is not None and resolved(folder).is_relative_to(root):
                raise UsageError(
                    f"{option} {folder} is inside input {given}: {who} never writes next to its "
                    "inputs"
                )
