#!/bin/sh
# `make image`: builds the sagebox image from the binary BIN, tagged TAG, on sagebox's Debian
# base image (made first if missing, with mmdebstrap from the host's apt sources).
set -eu
BIN=$1
TAG=$2
HERE=$(cd "$(dirname "$0")" && pwd)
base=$("$BIN" images build base | awk '{print $2; exit}')
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$BIN" "$ctx/sagebox"
cp "$HERE/Dockerfile" "$ctx/Dockerfile"
# The classic builder: engines without BuildKit's buildx plugin have only that one.
DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$base" -t "$TAG" "$ctx" >/dev/null
echo "built $TAG from $BIN on $base"
echo "run it: docker run -d --name sagebox --network host -v /var/run/docker.sock:/var/run/docker.sock -v \"\$HOME/sagebox-data:/data\" $TAG"
