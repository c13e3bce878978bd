"""The images' entry point (the base image's ENTRYPOINT runs `python3 -m sagebox_container.cli`).

Each image installs a module `sagebox_image` with `train()` and `serve()` (and optionally
`default()` for a run without arguments). When the image has a venv at /opt/venv (images with a
wheelhouse), the entry point re-executes itself with the venv's python, so user code sees the
venv's packages and /opt/venv/bin comes first on PATH.

`train` and `serve` are what SageMaker passes; any other arguments run as a command, so
`docker run IMAGE python3 -c ...` or `docker run -it IMAGE bash` work as usual.
"""
import os
import sys

VENV = "/opt/venv"


def _enter_venv():
    python = os.path.join(VENV, "bin", "python3")
    if os.path.exists(python) and os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        os.environ["PATH"] = os.path.join(VENV, "bin") + os.pathsep + os.environ.get("PATH", "")
        os.environ["VIRTUAL_ENV"] = VENV
        os.execv(python, [python, "-u", "-m", "sagebox_container.cli"] + sys.argv[1:])


def dispatch(train, serve, default=None, argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        if default is None:
            sys.exit("usage: train | serve | COMMAND [ARG...]")
        default()
    elif argv[0] == "train" and train:
        train()
    elif argv[0] == "serve" and serve:
        serve()
    else:
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            sys.exit("%s: %s" % (argv[0], e.strerror))


def main():
    _enter_venv()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        import sagebox_image
    except ImportError:
        sagebox_image = None
    dispatch(
        getattr(sagebox_image, "train", None),
        getattr(sagebox_image, "serve", None),
        getattr(sagebox_image, "default", None),
    )


if __name__ == "__main__":
    main()
