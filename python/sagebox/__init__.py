"""sagebox: SageMaker-in-a-box. The `sagebox` command is the emulator itself (a Rust binary this
package carries); this Python side only finds that binary and runs it for tests:

    pip install sagebox
    sagebox serve                       # the SageMaker and S3 APIs on http://127.0.0.1:4599

    def test_training(sagebox):         # the pytest plugin: a server for the test session
        sm = sagebox.client("sagemaker")

`sagebox.find_binary()` says which binary is used; `sagebox.Server` starts one from Python.
"""

from ._binary import BinaryNotFound, find_binary
from .server import Server

__all__ = ["BinaryNotFound", "Server", "find_binary", "__version__"]


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return "unknown"
    try:
        return version("sagebox")
    except PackageNotFoundError:
        return "unknown"


__version__ = _version()
