"""The Hugging Face hub, offline: what a script sees when a model is not in the mounted cache.

sagebox containers never reach the network; they run with HF_HUB_OFFLINE=1 and, when the host has
a Hugging Face cache, HF_HUB_CACHE pointing at a read-only bind of it (SAGEBOX_HF_CACHE_HOST names
the host folder; it is empty when the host has none). `from_pretrained("org/name")` then loads what
is cached and fails for anything else with the libraries' generic "couldn't connect ... offline
mode" error, which names neither the model nor the cure.

This module recognises that error (the exception or one in its chain), finds the repository the
failing call asked for in the locals of the frames that raised it (hf_hub_download's `repo_id`,
transformers' `path_or_repo_id` / `pretrained_model_name_or_path`), and says what to do. It is
imported by every Python process of the venv (sagebox_hf_offline.pth) and adds the explanation after
the traceback of an uncaught error; when $SAGEBOX_HF_MISSING_FILE is set it also writes it there,
where the image's `train` and `serve` pick it up for the job's FailureReason or the endpoint's log.
"""
import os
import sys

MISSING_FILE_ENV = "SAGEBOX_HF_MISSING_FILE"

# Phrases of huggingface_hub's and transformers' offline / not-cached errors.
_MARKERS = (
    "outgoing traffic has been disabled",
    "couldn't find them in the cached files",
    "offline mode",
    "cannot find the requested files in the local cache",
    "cannot find an appropriate cached snapshot folder",
)
_ERROR_TYPES = ("LocalEntryNotFoundError", "OfflineModeIsEnabled")
# Frame locals that name the repository, most specific first.
_REPO_LOCALS = ("repo_id", "path_or_repo_id", "pretrained_model_name_or_path", "model_id")


def _chain(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_missing_from_cache(exc):
    """True when `exc` (or an exception it came from) says a hub file is not cached while offline."""
    for e in _chain(exc):
        if type(e).__name__ in _ERROR_TYPES:
            return True
        if isinstance(e, (OSError, ValueError)):
            text = str(e).lower()
            if any(m in text for m in _MARKERS):
                return True
    return False


def _looks_like_repo(value):
    return (
        isinstance(value, str)
        and value
        and not value.startswith(("/", "."))
        and value.count("/") <= 1
        and not os.path.exists(value)
    )


def repo_id(exc):
    """The hub repository the failing call asked for, or None: the innermost frame (of any
    exception in the chain) that has one of the naming locals."""
    for key in _REPO_LOCALS:
        for e in _chain(exc):
            tb = e.__traceback__
            found = None
            while tb is not None:
                value = tb.tb_frame.f_locals.get(key)
                if _looks_like_repo(value):
                    found = value
                tb = tb.tb_next
            if found:
                return found
    return None


def message(repo=None):
    """What to tell the user about `repo` (a hub name) missing from the offline cache."""
    name = "'%s'" % repo if repo else "the model"
    cli = repo or "NAME"
    host = os.environ.get("SAGEBOX_HF_CACHE_HOST", "")
    if host:
        where = "is not in the Hugging Face cache sagebox mounted (%s on the host, read-only)" % host
    else:
        where = (
            "cannot be loaded: the host has no Hugging Face cache for sagebox to mount "
            "($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)"
        )
    return (
        "sagebox: the Hugging Face model %s %s, and containers run offline (HF_HUB_OFFLINE=1). "
        "To fix: download it on the host with `huggingface-cli download %s` (or `hf download %s`) "
        "and run again, or save it with save_pretrained into a training channel or model.tar.gz "
        "and load it from that path." % (name, where, cli, cli)
    )


def report(exc):
    """Print the explanation for `exc` to stderr, write it to $SAGEBOX_HF_MISSING_FILE; return it."""
    text = message(repo_id(exc))
    print(text, file=sys.stderr, flush=True)
    path = os.environ.get(MISSING_FILE_ENV)
    if path:
        try:
            with open(path, "w") as f:
                f.write(text)
        except OSError:
            pass
    return text


def _excepthook(etype, value, tb):
    _previous(etype, value, tb)
    try:
        if is_missing_from_cache(value):
            report(value)
    except Exception:  # noqa: BLE001 - an explanation must never hide the error itself
        pass


_previous = sys.excepthook


def install():
    """Chain the explaining excepthook (once) when the hub is offline."""
    global _previous
    if os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("1", "true", "yes", "on"):
        return
    if sys.excepthook is not _excepthook:
        _previous = sys.excepthook
        sys.excepthook = _excepthook
