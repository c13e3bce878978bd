"""`python -m sagebox ARGS…` runs the sagebox binary (for when the venv's bin/ is not on PATH)."""

import os
import sys

from ._binary import BinaryNotFound, find_binary


def main() -> None:
    try:
        binary = str(find_binary())
    except BinaryNotFound as e:
        sys.exit(f"sagebox: {e}")
    if os.name == "nt":  # no exec there: run it and pass its status on
        import subprocess

        sys.exit(subprocess.call([binary, *sys.argv[1:]]))
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
