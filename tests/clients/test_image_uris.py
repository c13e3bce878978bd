"""Every image URI the SageMaker Python SDK forms for the algorithms sagebox emulates — in every
region and partition the SDK lists, for both scopes, for the versions sagebox emulates and the
SDK's newest — runs sagebox's local image, and an AWS image sagebox lacks is refused with the list
of what it has. (Each `retrieve` costs the SDK some milliseconds, so not every old version.)"""

import os
import subprocess

import pytest

from support import sagebox_binary

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
image_uris = pytest.importorskip("sagemaker.image_uris")

EXPECTED = {
    "linear-learner": "sagebox/linear-learner:latest",
    "xgboost": "sagebox/xgboost:latest",
    "kmeans": "sagebox/kmeans:latest",
    "pca": "sagebox/pca:latest",
    "sklearn": "sagebox/sklearn:latest",
}


EMULATED_VERSIONS = {"1", "1.7-1", "1.2-1"}


def _pick(versions):
    """The emulated versions present, plus the newest (the config lists versions oldest first)."""
    names = list(versions)
    return [v for v in names if v in EMULATED_VERSIONS or v == names[-1]]


def _version_configs(config):
    """(scope, version, version config) for a framework's config, scoped or not."""
    if "versions" in config:
        for version in _pick(config["versions"]):
            yield config.get("scope", ["training"])[0], version, config["versions"][version]
        return
    for scope in ("training", "inference"):
        versions = config.get(scope, {}).get("versions", {})
        for version in _pick(versions):
            yield scope, version, versions[version]


def sdk_uris():
    uris = []
    for framework, want in EXPECTED.items():
        for scope, version, vc in _version_configs(image_uris.config_for_framework(framework)):
            if "registries" not in vc:
                continue
            for region in vc["registries"]:
                try:
                    uri = image_uris.retrieve(framework, region, version=version, py_version="py3",
                                              instance_type="ml.m5.large", image_scope=scope)
                except ValueError:
                    continue  # a combination the SDK itself refuses (e.g. no py3 for an old version)
                uris.append((uri, want))
    return uris


def resolve(*uris):
    return subprocess.run([str(sagebox_binary()), "images", "resolve", *uris], capture_output=True,
                          text=True, timeout=60)


def test_sdk_image_uris_map_to_local_images_in_every_region():
    uris = sdk_uris()
    regions = {u.split(".")[3] for u, _ in uris}
    assert len(uris) > 200 and len(regions) > 25, (len(uris), sorted(regions))
    assert any(".amazonaws.com.cn/" in u for u, _ in uris) and any(".c2s.ic.gov/" in u for u, _ in uris)
    proc = resolve(*[u for u, _ in uris])
    assert proc.returncode == 0, proc.stderr
    got = dict(line.split("\t") for line in proc.stdout.splitlines())
    wrong = [(u, got.get(u), want) for u, want in uris if got.get(u) != want]
    assert not wrong, wrong[:10]


def test_unknown_aws_images_are_refused_with_the_list_and_own_images_pass_through():
    pytorch = image_uris.retrieve("pytorch", "eu-west-1", version="2.1", py_version="py310",
                                  instance_type="ml.m5.large", image_scope="training")
    proc = resolve(pytorch)
    assert proc.returncode != 0
    assert "pytorch-training" in proc.stderr and "sagemaker-xgboost" in proc.stderr, proc.stderr
    proc = resolve("my-team/algo:3")
    assert proc.returncode == 0 and proc.stdout == "my-team/algo:3\tmy-team/algo:3\n"
