"""Debian's torch is built without libuv, yet torch ≥ 2.4 asks TCPStore for its libuv server by
default, and torchrun's rendezvous (static and c10d) gives no way to say otherwise: every
multi-node launch fails with "use_libuv was requested but PyTorch was build without libuv support".

Imported at interpreter start (sagebox_torch_compat.pth in the venv), this installs an import hook
that, once `torch.distributed` is loaded, replaces its TCPStore with a subclass that falls back to
the classic (non-libuv) server when libuv is missing. Nothing changes where torch has libuv, and
nothing is imported until a program imports torch.distributed itself.
"""
import importlib.abc
import importlib.machinery
import sys

_TARGET = "torch.distributed"
_NO_LIBUV = "without libuv support"


def _patch(module):
    original = getattr(module, "TCPStore", None)
    if original is None or getattr(original, "_sagebox_compat", False):
        return

    class TCPStore(original):
        _sagebox_compat = True

        def __init__(self, *args, **kwargs):
            try:
                super().__init__(*args, **kwargs)
            except RuntimeError as e:
                if _NO_LIBUV not in str(e):
                    raise
                kwargs["use_libuv"] = False
                super().__init__(*args, **kwargs)

    TCPStore.__name__ = TCPStore.__qualname__ = "TCPStore"
    TCPStore.__module__ = original.__module__
    module.TCPStore = TCPStore
    # modules torch.distributed imported while it loaded hold the original name
    for name in ("torch.distributed.rendezvous", "torch.distributed.distributed_c10d"):
        sub = sys.modules.get(name)
        if sub is not None and getattr(sub, "TCPStore", None) is original:
            sub.TCPStore = TCPStore


class _Loader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            _patch(module)
        except Exception:  # noqa: BLE001 - never break torch's import
            pass


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install():
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
