"""Build sagebox's emulator images by hand, exactly as emulator-images/README.md describes.

The image tests use `sagebox images build NAME` when the binary has it; until then (and to check the
recipes independently of the Rust builder) this script does the same steps:

  base     mmdebstrap --variant=minbase --include=<base/packages.txt> --customize-hook='sync-in
           base/overlay /' bookworm - <host apt sources> | docker import (ENV, WORKDIR, ENTRYPOINT)
           → sagebox/base:<hash12>   (hash over packages.txt and every file under base/)
  <name>   pip download -r <name>/requirements.txt -d <context>/wheels   (host pip: proxy, CA, caches;
           with --no-deps and CPython 3.11 / manylinux target flags: the files are complete locks)
           docker build <context> --build-arg BASE=sagebox/base:<…>  → sagebox/<name>:<hash12>, :latest
           (hash over the base hash and every file of <name>/)

An image whose tag exists is not rebuilt. Usage: python3 imagebuild.py [--timings FILE] NAME...
(`base` builds just the base; an image name builds the base first if needed).

SAGEBOX_IMAGEBUILD_LAYERED=1 (for working on base/overlay): the rootfs of packages.txt alone is
imported once as sagebox/rootfs:<hash of packages.txt> and the overlay added by a `COPY` layer,
so a change to the shared Python code costs seconds instead of a new mmdebstrap run.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPES = os.path.join(ROOT, "emulator-images")
IMAGES = ("xgboost", "linear-learner", "sklearn", "kmeans", "pca", "jupyter")
DEBIAN_SOURCES = ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENTRYPOINT = '["/usr/bin/tini", "--", "python3", "-m", "sagebox_container.cli"]'
IMPORT_CHANGES = ("ENV " + PATH_ENV, "ENV LANG=C.UTF-8", "WORKDIR /", "ENTRYPOINT " + ENTRYPOINT)
# requirements.txt files are complete locks, so the wheels can be fetched without resolving, for the
# image's CPython 3.11 on glibc 2.36 (bookworm) whatever Python runs pip on the host.
PORTABLE_PIP_ARGS = ["--no-deps", "--prefer-binary", "--python-version", "3.11", "--implementation", "cp",
                     "--abi", "cp311"] + [
    a for tag in ["manylinux_2_%d_x86_64" % v for v in range(36, 4, -1)]
    + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]
    for a in ("--platform", tag)]
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
)


def log(msg):
    print("[imagebuild] %s" % msg, file=sys.stderr, flush=True)


def _files(folder):
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in ("wheels", "__pycache__"))
        for name in sorted(filenames):
            if name.endswith(".pyc"):
                continue
            path = os.path.join(dirpath, name)
            out.append((os.path.relpath(path, folder), path))
    return sorted(out)


def folder_hash(folder, seed=""):
    h = hashlib.sha256(seed.encode())
    for rel, path in _files(folder):
        h.update(rel.encode() + b"\0")
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def packages():
    with open(os.path.join(RECIPES, "base", "packages.txt")) as f:
        return [w for line in f for w in line.split("#", 1)[0].split()]


def packages_hash():
    with open(os.path.join(RECIPES, "base", "packages.txt"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def base_hash():
    return folder_hash(os.path.join(RECIPES, "base"))


def image_hash(name):
    return folder_hash(os.path.join(RECIPES, name), seed=base_hash())


def tag(name):
    if name == "rootfs":
        return "sagebox/rootfs:%s" % packages_hash()[:12]
    if name == "base":
        return "sagebox/base:%s" % base_hash()[:12]
    return "sagebox/%s:%s" % (name, image_hash(name)[:12])


def exists(ref):
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def _sources():
    for path in DEBIAN_SOURCES:
        if os.path.exists(path):
            return path
    raise SystemExit("no Debian apt sources file found (%s)" % ", ".join(DEBIAN_SOURCES))


def mmdebstrap_import(ref, recipe_hash, overlay=None):
    """mmdebstrap … - | docker import …: the rootfs of packages.txt (plus `overlay`) as `ref`."""
    if not shutil.which("mmdebstrap"):
        raise SystemExit("mmdebstrap is not installed (apt-get install -y mmdebstrap)")
    cmd = ["mmdebstrap", "--variant=minbase", "--include=" + ",".join(packages())]
    cmd += ["--dpkgopt=" + o for o in DPKG_EXCLUDES]
    if overlay:
        cmd += ["--customize-hook=sync-in %s /" % overlay]
    cmd += ["bookworm", "-", _sources()]
    changes = []
    for c in IMPORT_CHANGES + ("LABEL sagebox.recipe-hash=" + recipe_hash,):
        changes += ["--change", c]
    mm = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    imp = subprocess.run(["docker", "import"] + changes + ["-", ref], stdin=mm.stdout, stdout=subprocess.DEVNULL)
    mm.stdout.close()
    if mm.wait() != 0 or imp.returncode != 0:
        raise SystemExit("building %s failed" % ref)


def docker_build(context, ref, build_args, labels, extra_tags=()):
    """The classic builder (DOCKER_BUILDKIT=0), never pulling: the engine may have no registry."""
    cmd = ["docker", "build", "--pull=false", "-q", "-t", ref]
    for t in extra_tags:
        cmd += ["-t", t]
    for k, v in build_args.items():
        cmd += ["--build-arg", "%s=%s" % (k, v)]
    for k, v in labels.items():
        cmd += ["--label", "%s=%s" % (k, v)]
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    proc = subprocess.run(cmd + [context], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit("docker build of %s failed:\n%s" % (ref, proc.stderr))


def build_base(timings):
    ref = tag("base")
    if exists(ref):
        return ref
    overlay = os.path.join(RECIPES, "base", "overlay")
    start = time.time()
    if os.environ.get("SAGEBOX_IMAGEBUILD_LAYERED") == "1":
        rootfs = tag("rootfs")
        if not exists(rootfs):
            log("building %s (mmdebstrap | docker import)" % rootfs)
            mmdebstrap_import(rootfs, packages_hash())
            timings["rootfs"] = round(time.time() - start, 1)
        log("building %s (rootfs + overlay layer)" % ref)
        with tempfile.TemporaryDirectory(prefix="sagebox-ctx-") as ctx:
            shutil.copytree(overlay, os.path.join(ctx, "overlay"), ignore=shutil.ignore_patterns("__pycache__"))
            with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                f.write("FROM %s\nCOPY overlay/ /\n" % rootfs)
            docker_build(ctx, ref, {}, {"sagebox.recipe-hash": base_hash()})
    else:
        log("building %s (mmdebstrap | docker import)" % ref)
        with tempfile.TemporaryDirectory(prefix="sagebox-overlay-") as tmp:
            copy = os.path.join(tmp, "overlay")
            shutil.copytree(overlay, copy, ignore=shutil.ignore_patterns("__pycache__"))
            mmdebstrap_import(ref, base_hash(), overlay=copy)
    timings["base"] = round(time.time() - start, 1)
    return ref


def build_image(name, timings):
    ref = tag(name)
    if exists(ref):
        subprocess.run(["docker", "tag", ref, "sagebox/%s:latest" % name], check=True)
        return ref
    base = build_base(timings)
    folder = os.path.join(RECIPES, name)
    if not os.path.isfile(os.path.join(folder, "Dockerfile")):
        raise SystemExit("no recipe for %s" % name)
    log("building %s" % ref)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="sagebox-ctx-") as ctx:
        for rel, path in _files(folder):
            os.makedirs(os.path.join(ctx, os.path.dirname(rel)), exist_ok=True)
            shutil.copy(path, os.path.join(ctx, rel))
        os.makedirs(os.path.join(ctx, "wheels"), exist_ok=True)
        req = os.path.join(ctx, "requirements.txt")
        if os.path.isfile(req):
            t0 = time.time()
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check"]
                + PORTABLE_PIP_ARGS + ["-r", req, "-d", os.path.join(ctx, "wheels")],
                check=True,
            )
            timings[name + ":wheels"] = round(time.time() - t0, 1)
        docker_build(ctx, ref, {"BASE": base}, {"sagebox.recipe-hash": image_hash(name)},
                     extra_tags=["sagebox/%s:latest" % name])
    timings[name] = round(time.time() - start, 1)
    return ref


def build(name, timings=None):
    timings = {} if timings is None else timings
    if name == "base":
        return build_base(timings)
    return build_image(name, timings)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--timings", help="write build timings (seconds) as JSON here")
    args = parser.parse_args()
    timings = {}
    for name in args.names:
        print(build(name, timings))
    log("timings: %s" % json.dumps(timings))
    if args.timings:
        with open(args.timings, "w") as f:
            json.dump(timings, f, indent=1)


if __name__ == "__main__":
    main()
