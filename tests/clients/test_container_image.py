"""`make image`: sagebox itself as a container, driving the host's engine through the mounted
socket on the host's network, with its data directory mounted from the host at another path
(/data): a training job launched through it must complete, its channel bind-mounted from the
host's copy of the data directory and its model back in sagebox's S3."""

import subprocess
import time
import uuid

import pytest
import requests

from support import REPO, ROLE_ARN, docker_answers, free_port, sagebox_binary, unique

pytestmark = pytest.mark.skipif(not docker_answers(), reason="needs a Docker engine")


@pytest.fixture(scope="module")
def sagebox_image():
    tag = "sagebox-test/sagebox:" + uuid.uuid4().hex[:10]
    built = subprocess.run(["make", "--no-print-directory", "image", "IMAGE_PROFILE=dev",
                            f"IMAGE={tag}"], cwd=REPO, capture_output=True, text=True,
                           timeout=1800)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert f"built {tag}" in built.stdout, built.stdout
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)


def test_a_training_job_launched_from_the_sagebox_image_completes(
        sagebox_image, byo_image, client_factory, tmp_path):
    data = tmp_path / "host-data"
    data.mkdir()
    port = free_port()
    name = unique("sagebox-in-docker")
    started = subprocess.run(
        ["docker", "run", "-d", "--name", name, "--network", "host",
         "-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", f"{data}:/data",
         sagebox_image, "serve", "--bind", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if requests.get(url + "/_sagebox/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.time() < deadline, docker_logs(name)
            time.sleep(0.2)
        assert requests.get(url + "/_sagebox/health", timeout=5).json()["data_dir"] == "/data"

        s3, sm = client_factory("s3", url), client_factory("sagemaker", url)
        bucket = unique("in-docker")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="train/a.csv", Body=b"1,2\n")
        job = unique("in-docker-job")
        sm.create_training_job(
            TrainingJobName=job,
            AlgorithmSpecification={"TrainingImage": byo_image, "TrainingInputMode": "File"},
            RoleArn=ROLE_ARN, HyperParameters={"mode": "ok"},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train"}}}],
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1,
                            "VolumeSizeInGB": 10},
            StoppingCondition={"MaxRuntimeInSeconds": 600})
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
        d = sm.describe_training_job(TrainingJobName=job)
        assert d["TrainingJobStatus"] == "Completed", (d.get("FailureReason"), docker_logs(name))
        key = d["ModelArtifacts"]["S3ModelArtifacts"].split(f"s3://{bucket}/", 1)[1]
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
        # the job saw its channel: the model names the file the hard-linked channel held
        import io
        import tarfile
        tar = tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        assert '"train": ["a.csv"]' in tar.extractfile("model.json").read().decode()
        assert "bind mounts map through" in docker_logs(name)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=120)
        # what the containerised server started carries its owner label, like a host server's
        subprocess.run([str(sagebox_binary()), "purge", "--data-dir", str(data)],
                       capture_output=True, timeout=300)


def docker_logs(name):
    out = subprocess.run(["docker", "logs", "--tail", "60", name], capture_output=True,
                         text=True, timeout=60)
    return out.stdout + out.stderr
