"""A PyTorch training job on a GPU instance type, where sagebox's NVML finds a GPU: the SDK's
`PyTorch` estimator on ml.g5.xlarge gets the GPU variant of the PyTorch image (pytorch-gpu, built on
first use: CUDA 12.4 wheels), the granted device, and `torch.cuda.is_available()` inside; the
script multiplies a matrix on the GPU and writes the result to the model dir, which is checked here.

Skipped, with the reason, on hosts where sagebox's health report lists no GPU (`pytest -rs` prints
it)."""

import io
import json
import os
import tarfile
import textwrap
import urllib.request

import pytest

from support import docker_answers, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")

TRAIN_PY = textwrap.dedent("""\
    import json
    import os

    import torch

    assert torch.cuda.is_available(), "torch.cuda.is_available() is False inside the job"
    a = torch.arange(6, dtype=torch.float32, device="cuda").reshape(2, 3)
    product = a @ a.T
    assert product.is_cuda
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "cuda.json"), "w") as f:
        json.dump({
            "result": product.cpu().tolist(),
            "cuda": torch.version.cuda,
            "device_count": torch.cuda.device_count(),
            "sm_num_gpus": int(os.environ["SM_NUM_GPUS"]),
            "device": torch.cuda.get_device_name(0),
        }, f)
    print("cuda matmul on", torch.cuda.get_device_name(0), "->", product.cpu().tolist())
    """)


def gpus_of(sagebox):
    """sagebox's own GPU report (NVML), from its health endpoint."""
    with urllib.request.urlopen(sagebox.url + "/_sagebox/health", timeout=10) as r:
        return json.load(r)["subsystems"]["gpus"]


@pytest.fixture(scope="module")
def gpu_report(sagebox):
    report = gpus_of(sagebox)
    if not report.get("devices"):
        reason = report.get("unavailable_reason") or "NVML reports no GPU"
        pytest.skip(f"no GPU on this host, so the GPU variant is not exercised: {reason} "
                    "(this reason is printed by `pytest -rs`)")
    return report


@pytest.fixture(scope="module")
def bucket(s3, gpu_report):
    name = unique("gpu")
    s3.create_bucket(Bucket=name)
    return name


def test_pytorch_estimator_runs_a_cuda_op_on_a_gpu_instance(gpu_report, sdk_session, s3, bucket, tmp_path):
    from sagemaker.pytorch import PyTorch

    (tmp_path / "train.py").write_text(TRAIN_PY)
    est = PyTorch(entry_point="train.py", source_dir=str(tmp_path), framework_version="2.6",
                  py_version="py312", role=ROLE, instance_count=1, instance_type="ml.g5.xlarge",
                  sagemaker_session=sdk_session, output_path=f"s3://{bucket}/out",
                  code_location=f"s3://{bucket}/code")
    assert "-gpu-" in est.training_image_uri()
    est.fit(logs=True)

    d = sdk_session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    key = d["ModelArtifacts"]["S3ModelArtifacts"].split(f"s3://{bucket}/", 1)[1]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        got = json.load(tar.extractfile("cuda.json"))
    # [[0, 1, 2], [3, 4, 5]] times its transpose, computed on the device
    assert got["result"] == [[5.0, 14.0], [14.0, 50.0]]
    assert got["cuda"] == "12.4"
    # ml.g5.xlarge has one GPU: the job is granted exactly one, and sees only it
    assert got["sm_num_gpus"] == 1
    assert got["device_count"] == 1
    # the device NVML reported to sagebox (CUDA adds a suffix for a MIG instance)
    assert any(got["device"].startswith(dev["name"]) for dev in gpu_report["devices"]), got["device"]
