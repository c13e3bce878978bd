"""Finding the `sagebox` binary: the one named explicitly, else SAGEBOX_BIN, else the one this
package's wheel installed (next to the Python that runs this code), else the first on PATH."""

import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Optional

_EXE = "sagebox.exe" if os.name == "nt" else "sagebox"


class BinaryNotFound(RuntimeError):
    pass


def _wheel_candidates():
    # pip puts a wheel's binaries in the scheme's scripts folder: the venv's bin/, or the user
    # scheme's when installed with --user.
    schemes = [sysconfig.get_default_scheme()] if hasattr(sysconfig, "get_default_scheme") else []
    schemes.append(f"{os.name}_user")
    for scheme in schemes:
        try:
            yield Path(sysconfig.get_path("scripts", scheme)) / _EXE
        except KeyError:
            continue
    yield Path(sys.executable).parent / _EXE


def find_binary(explicit: Optional[str] = None) -> Path:
    """The sagebox binary to run; raises BinaryNotFound saying where it looked."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise BinaryNotFound(f"no sagebox binary at {path}")
        return path
    env = os.environ.get("SAGEBOX_BIN")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise BinaryNotFound(f"SAGEBOX_BIN names {path}, which is not a file")
        return path
    looked = []
    for path in _wheel_candidates():
        looked.append(str(path))
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(_EXE)
    if found:
        return Path(found)
    raise BinaryNotFound(
        "no sagebox binary: looked at " + ", ".join(looked) + " and on PATH. "
        "Install it (`pip install sagebox`), or name one with SAGEBOX_BIN or --sagebox-bin."
    )
