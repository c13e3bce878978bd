"""The SageMaker Python SDK v3: ModelTrainer trains the built-in XGBoost against sagebox. SDK v3
cannot share a venv with v2, so the flow runs in tests/sdk3/model_trainer.py under the Python that
SAGEBOX_SDK3_PYTHON names (`make test` creates `.venv-sdk3` for it)."""

import json
import os
import subprocess

import pytest

from support import REPO, unique

PYTHON = os.environ.get("SAGEBOX_SDK3_PYTHON")


@pytest.mark.skipif(not PYTHON and os.environ.get("CI") != "true", reason="SAGEBOX_SDK3_PYTHON not set")
def test_sdk3_model_trainer_trains_xgboost(sagebox, client_factory):
    assert PYTHON, "make test sets SAGEBOX_SDK3_PYTHON"
    s3 = client_factory("s3", sagebox.url)
    bucket = unique("sdk3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="train/train.csv",
                  Body=(REPO / "fixtures" / "diabetes" / "train.csv").read_bytes())
    proc = subprocess.run([PYTHON, str(REPO / "tests" / "sdk3" / "model_trainer.py"), sagebox.url, bucket,
                           "s3://%s/train/" % bucket], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "Completed", result
    assert result["hyperparameters"]["num_round"] == "10"
    key = result["model"].split("/", 3)[3]
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
