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


FRAMEWORKS = {"pytorch": "sagebox/pytorch:latest", "tensorflow": "sagebox/tensorflow:latest",
              "huggingface": "sagebox/huggingface:latest"}


def framework_uris():
    """(uri, expected local image or None for a refusal) for every framework version the SDK
    lists (PyTorch and TensorFlow from 1.x, Hugging Face on PyTorch): the newest version in every
    region, the others in us-east-1, CPU and GPU instance types in turn (each `retrieve` costs
    the SDK ~80 ms, so not every combination)."""
    out = []
    for framework, want in FRAMEWORKS.items():
        config = image_uris.config_for_framework(framework)
        for scope in ("training", "inference"):
            versions = config[scope]["versions"]
            for i, (version, vc) in enumerate(versions.items()):
                if framework == "huggingface":
                    bases = [(k, v) for k, v in vc.items() if k.startswith("pytorch")]
                else:
                    bases = [(None, vc)]
                for base, bc in bases:
                    regions = sorted(bc.get("registries", {}))
                    if i != len(versions) - 1:
                        regions = [r for r in regions if r == "us-east-1"]
                    py = (bc.get("py_versions") or [None])[-1]
                    for j, region in enumerate(regions):
                        for instance_type in [("ml.m5.large", "ml.g5.xlarge")[(i + j) % 2]]:
                            try:
                                uri = image_uris.retrieve(
                                    framework, region, version=version, py_version=py,
                                    instance_type=instance_type, image_scope=scope,
                                    base_framework_version=base)
                            except ValueError:
                                continue  # a combination the SDK itself refuses
                            major = int(version.split(".")[0])
                            ok = major >= 1 if framework == "pytorch" else (
                                major == 2 if framework == "tensorflow" else major == 4)
                            out.append((uri, want if ok else None))
    return out


def test_sdk_framework_uris_map_to_the_framework_images_and_old_majors_are_refused():
    uris = framework_uris()
    by_repo = {u.split("/")[1].split(":")[0] for u, _ in uris}
    assert {"pytorch-training", "pytorch-inference", "tensorflow-training", "tensorflow-inference",
            "huggingface-pytorch-training", "huggingface-pytorch-inference"} <= by_repo, by_repo
    assert any("-gpu-" in u for u, _ in uris) and any("-cpu-" in u for u, _ in uris)
    mapped = [(u, w) for u, w in uris if w and "/sagemaker-" not in u]
    proc = resolve(*[u for u, _ in mapped])
    assert proc.returncode == 0, proc.stderr
    got = dict(line.split("\t") for line in proc.stdout.splitlines() if not line.startswith("#"))
    wrong = [(u, got.get(u), want) for u, want in mapped if got.get(u) != want]
    assert not wrong, wrong[:10]
    notes = [line for line in proc.stdout.splitlines() if line.startswith("#")]
    assert len(notes) == len(mapped) and all("served" in n or "runs on" in n for n in notes)
    # TensorFlow 1.x scripts cannot run on TensorFlow 2: refused with the reason
    tf1 = [u for u, w in uris if w is None and "tensorflow-training" in u]
    assert tf1
    proc = resolve(tf1[-1])
    assert proc.returncode != 0
    assert "TensorFlow 1" in proc.stderr and "framework_version 2.x" in proc.stderr, proc.stderr


def test_unknown_aws_images_are_refused_with_the_list_and_own_images_pass_through():
    djl = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124"
    proc = resolve(djl)
    assert proc.returncode != 0
    assert "djl-inference" in proc.stderr and "sagemaker-xgboost" in proc.stderr, proc.stderr
    proc = resolve("my-team/algo:3")
    assert proc.returncode == 0 and proc.stdout == "my-team/algo:3\tmy-team/algo:3\n"
