#!/bin/sh
# Run a project's tests against sagebox on any CI system with Docker and Python 3.
#
#   examples/ci/run-tests.sh CACHE_DIR [pytest arguments…]
#
# CACHE_DIR is a folder the CI system keeps between runs (its cache). The emulator images are
# saved there as one `docker save` archive named after `sagebox images key`, which changes when
# any recipe the default images are built from changes, so a new sagebox rebuilds only then.
# Building the images' Debian base needs mmdebstrap and Debian package sources: on a Debian host
# the host's own; elsewhere set SAGEBOX_APT_SOURCES to a deb822 sources file naming a Debian
# mirror.
set -eu
CACHE=${1:?usage: run-tests.sh CACHE_DIR [pytest arguments...]}
shift

python3 -m venv .sagebox-ci-venv
. .sagebox-ci-venv/bin/activate
# SAGEBOX_WHEEL: a wheel file to install instead of the published package
pip install --quiet "${SAGEBOX_WHEEL:-sagebox}" pytest boto3

key=$(sagebox images key)
archive="$CACHE/sagebox-images-$key.tar"
mkdir -p "$CACHE"
if [ -f "$archive" ]; then
    echo "restoring the emulator images from $archive"
    docker load --quiet -i "$archive"
fi
sagebox images build                          # builds only what is missing or outdated
if [ ! -f "$archive" ]; then
    rm -f "$CACHE"/sagebox-images-*.tar       # archives of older recipes
    docker save -o "$archive.part" $(sagebox images refs)
    mv "$archive.part" "$archive"
fi

sagebox doctor
# The pytest plugin (from the wheel) starts sagebox for the tests; `sagebox run -- CMD` does the
# same for any other command.
exec pytest "$@"
