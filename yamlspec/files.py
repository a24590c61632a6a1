"""Output paths checked before a long run, so its result is not lost at the end."""

from __future__ import annotations

import os
from pathlib import Path

from yamlspec.errors import SpecError


def check_writable(path: str | Path, what: str) -> Path:
    """Raise SpecError (naming `what`, e.g. '--export') unless `path` can be written:
    not a folder, its folder exists or can be created, and that folder is writable.
    Creates the missing folders (the write would, anyway); writes no file."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{what}: '{path}' is a folder; give a file name", str(path))
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent
    while not existing.exists():  # the nearest folder that is there
        existing = existing.parent
    if not existing.is_dir():
        raise SpecError(f"{what}: cannot write '{path}': '{existing}' is a file, not a folder",
                        str(path))
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpecError(f"{what}: cannot create the folder '{parent}' ({exc.strerror or exc})",
                        str(path)) from None
    if path.exists():
        try:
            with open(path, "a"):  # appends nothing, truncates nothing
                pass
        except OSError as exc:
            raise SpecError(f"{what}: cannot write '{path}' ({exc.strerror or exc})",
                            str(path)) from None
    elif not _can_create_in(parent):
        raise SpecError(f"{what}: cannot write '{path}': its folder '{parent}' is not "
                        f"writable", str(path))
    return path


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in `folder`. os.access says yes to root even in a
    read-only or immutable folder, so try it: create and remove a probe file."""
    probe = folder / f".accelsim-write-test-{os.getpid()}"
    try:
        probe.touch(exist_ok=False)
    except FileExistsError:
        return True
    except OSError:
        return False
    probe.unlink(missing_ok=True)
    return True
