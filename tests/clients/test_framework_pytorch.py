"""PyTorch script mode with the SageMaker Python SDK v2 against sagebox's pytorch image, through the
SDK's real code paths: `PyTorch(...).fit(logs=True)` with a requirements.txt served from a wheelhouse
(a tiny wheel built here; containers are offline), accuracy of a small MLP on the digits set,
`deploy()` + `predict()` with a custom inference.py, `transformer().transform()` on a CSV, a
2-instance torch_distributed job whose ranks all-reduce over gloo, and the failures a user meets:
a script that raises, a requirement the wheelhouse lacks.

One private sagebox serves the module, started with `--wheelhouse DIR`."""

import io
import json
import os
import tarfile

import pytest

from support import REPO, docker_answers, sdk_session_on, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
SCRIPT_DIR = REPO / "fixtures" / "pytorch_script"
DIGITS = REPO / "fixtures" / "digits"
TINY_MARKER = "tiny-dep 0.1 from the wheelhouse"

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")


def framework_args(**extra):
    """What selects the image: the SDK's own PyTorch image URI (framework_version 2.1, py310),
    which sagebox maps to its pytorch image."""
    return {"framework_version": "2.1", "py_version": "py310", **extra}


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    """A wheelhouse holding one tiny pure-Python wheel, written here (a wheel is a zip with its
    metadata and a RECORD of hashes), so no build backend or index is needed."""
    import base64
    import hashlib
    import zipfile

    house = tmp_path_factory.mktemp("tinydep") / "wheelhouse"
    house.mkdir()
    dist = "sagebox_tiny_dep-0.1.dist-info"
    files = {
        "sagebox_tiny_dep/__init__.py": "MARKER = %r\n" % TINY_MARKER,
        dist + "/METADATA": "Metadata-Version: 2.1\nName: sagebox-tiny-dep\nVersion: 0.1\n",
        dist + "/WHEEL": "Wheel-Version: 1.0\nGenerator: sagebox-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(text.encode())))
    files[dist + "/RECORD"] = "\n".join(record + [dist + "/RECORD,,"]) + "\n"
    with zipfile.ZipFile(house / "sagebox_tiny_dep-0.1-py3-none-any.whl", "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)
    return house


@pytest.fixture(scope="module")
def server(request, tmp_path_factory, wheelhouse):
    from sagebox.pytest_plugin import Servers

    servers = Servers(request.config, tmp_path_factory)
    yield servers.start("pytorch-sagebox", ["--wheelhouse", str(wheelhouse)])
    servers.end()


@pytest.fixture(scope="module")
def session(server):
    pytest.importorskip("sagemaker")
    yield from sdk_session_on(server.url, unique("pytorch"), create_bucket=True)


def source_dir(tmp_path, requirements=None):
    """fixtures/pytorch_script, plus a requirements.txt when given."""
    import shutil

    dest = tmp_path / "code"
    shutil.copytree(SCRIPT_DIR, dest, ignore=shutil.ignore_patterns("__pycache__"))
    if requirements:
        (dest / "requirements.txt").write_text(requirements)
    return str(dest)


def estimator(session, tmp_path, prefix, requirements=None, **kwargs):
    from sagemaker.pytorch import PyTorch

    bucket = session.default_bucket()
    args = dict(entry_point="train.py", source_dir=source_dir(tmp_path, requirements), role=ROLE,
                instance_count=1, instance_type="ml.m5.large", sagemaker_session=session,
                output_path="s3://%s/%s/output" % (bucket, prefix),
                code_location="s3://%s/%s/code" % (bucket, prefix), max_run=600)
    args.update(kwargs)
    args.update(framework_args())
    return PyTorch(**args)


def est_image(est):
    """{"image_uri": ...} when the estimator was given one."""
    return {"image_uri": est.image_uri} if est.image_uri else {}


def model_members(session, model_data):
    """{name: bytes} of a model.tar.gz in S3."""
    bucket, key = model_data[len("s3://"):].split("/", 1)
    body = session.boto_session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name.lstrip("./"): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def digits(name):
    import numpy as np

    data = np.loadtxt(DIGITS / name, delimiter=",")
    return data[:, 1:], data[:, 0].astype(int)


def test_fit_with_requirements_deploy_predict_and_transform(session, tmp_path):
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import JSONSerializer

    train = session.upload_data(str(DIGITS / "train.csv"), session.default_bucket(), "pt/train")
    test = session.upload_data(str(DIGITS / "test.csv"), session.default_bucket(), "pt/test")
    est = estimator(session, tmp_path, "pt", requirements="sagebox-tiny-dep==0.1\nnumpy\n",
                    hyperparameters={"epochs": 30, "lr": 0.01, "hidden": 32})
    est.fit({"train": train, "test": test}, logs=True)
    d = session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")

    members = model_members(session, est.model_data)
    assert {"model.pth", "model.pt", "metrics.json"} <= set(members)
    metrics = json.loads(members["metrics.json"])
    # the requirement came from the wheelhouse; numpy was already in the image
    assert metrics["tiny_dep"] == TINY_MARKER
    assert metrics["test_accuracy"] > 0.9, metrics["test_accuracy"]
    # hyperparameters as arguments and the training toolkit's SM_* variables
    assert metrics["argv"] == ["--epochs", "30", "--hidden", "32", "--lr", "0.01"]
    env = metrics["env"]
    assert env["SM_HPS"] == '{"epochs":30,"hidden":32,"lr":0.01}'
    assert env["SM_HP_EPOCHS"] == "30" and env["SM_HP_LR"] == "0.01"
    assert json.loads(env["SM_USER_ARGS"]) == metrics["argv"]
    assert env["SM_CHANNELS"] == '["test","train"]'
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_CHANNEL_TEST"] == "/opt/ml/input/data/test"
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert env["SM_INPUT_DIR"] == "/opt/ml/input" and env["SM_OUTPUT_DIR"] == "/opt/ml/output"
    assert env["SM_HOSTS"] == '["algo-1"]' and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.large"
    assert env["SM_NETWORK_INTERFACE_NAME"] == "eth0"
    assert env["SM_NUM_GPUS"] == "0" and int(env["SM_NUM_CPUS"]) >= 1
    assert env["SM_MODULE_NAME"] == "train"
    assert env["SM_MODULE_DIR"].startswith("s3://%s/pt/code/" % session.default_bucket())
    assert env["SM_MODULE_DIR"].endswith("/source/sourcedir.tar.gz")
    assert env["SM_USER_ENTRY_POINT"] == "train.py"
    assert env["SM_LOG_LEVEL"] == "20"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["hyperparameters"] == {"epochs": 30, "hidden": 32, "lr": 0.01}
    assert training_env["job_name"] == d["TrainingJobName"]
    assert training_env["is_master"] is True

    # deploy with a custom inference.py (model_fn / input_fn / output_fn; the default predict_fn)
    X, y = digits("test.csv")
    predictor = est.deploy(initial_instance_count=1, instance_type="ml.m5.large", entry_point="inference.py",
                           serializer=JSONSerializer(), deserializer=JSONDeserializer())
    try:
        out = predictor.predict({"instances": X[:50].tolist()})
        predictions = out["predictions"]
        assert len(predictions) == 50
        assert sum(int(p == t) for p, t in zip(predictions, y[:50])) >= 45, predictions
    finally:
        predictor.delete_endpoint()

    # the toolkit's default handlers (an entry point without functions): model.pt is TorchScript,
    # NPY in and out (PyTorchPredictor's defaults), then JSON; raw logits come back
    from sagemaker.pytorch import PyTorchModel

    model = PyTorchModel(model_data=est.model_data, entry_point="defaults.py", source_dir=est.source_dir,
                         role=ROLE, sagemaker_session=session, **framework_args(**est_image(est)))
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.large")
    try:
        logits = predictor.predict((X[:50] / 16.0).astype("float32"))
        assert logits.shape == (50, 10)
        assert logits.argmax(1).tolist() == predictions
        predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
        as_json = predictor.predict((X[:2] / 16.0).tolist())
        assert len(as_json) == 2 and len(as_json[0]) == 10
        assert [max(range(10), key=row.__getitem__) for row in as_json] == predictions[:2]
    finally:
        predictor.delete_endpoint()

    # batch transform of a CSV with the same model and handlers
    bucket = session.default_bucket()
    body = "".join(",".join("%d" % v for v in row) + "\n" for row in X[:100])
    session.boto_session.client("s3").put_object(Bucket=bucket, Key="pt/batch/in.csv", Body=body.encode())
    model = est.create_model(entry_point="inference.py")
    transformer = model.transformer(instance_count=1, instance_type="ml.m5.large", accept="text/csv",
                                    strategy="MultiRecord", assemble_with="Line",
                                    output_path="s3://%s/pt/batch/out" % bucket)
    transformer.transform("s3://%s/pt/batch/in.csv" % bucket, content_type="text/csv", split_type="Line",
                          wait=True, logs=False)
    out = session.boto_session.client("s3").get_object(Bucket=bucket, Key="pt/batch/out/in.csv.out")
    labels = [int(v) for v in out["Body"].read().decode().split()]
    assert len(labels) == 100
    assert sum(int(p == t) for p, t in zip(labels, y[:100])) >= 90


@pytest.mark.parametrize("distribution", ["torch_distributed", "pytorchddp"])
def test_distributed_two_instances_all_reduce(session, tmp_path, distribution):
    """torchrun on algo-1 and algo-2 (pytorchddp, which the SDK turns into SageMaker's data parallel
    library's hyperparameters, launches the same way here)."""
    from sagemaker import image_uris

    # The SDK refuses these distributions on CPU instance types unless an image URI is given, so
    # pass the URI it would pick for the PyTorch 2.1 training image.
    uri = image_uris.retrieve("pytorch", "us-east-1", version="2.1", py_version="py310",
                              instance_type="ml.m5.large", image_scope="training")
    est = estimator(session, tmp_path, "pt-dist", instance_count=2, image_uri=uri,
                    distribution={distribution: {"enabled": True}})
    est.fit(logs=True)
    d = session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    result = json.loads(model_members(session, est.model_data)["distributed.json"])
    # ranks 0 and 1 contributed 1 and 2
    assert result == {"sum": 3.0, "world_size": 2, "backend": "gloo", "master_addr": "algo-1",
                      "hosts": ["algo-1", "algo-2"]}


def test_failing_script_reports_exit_code_and_traceback(session, tmp_path):
    from sagemaker.exceptions import UnexpectedStatusException

    est = estimator(session, tmp_path, "pt-fail", hyperparameters={"fail": 3})
    with pytest.raises(UnexpectedStatusException):
        est.fit(logs=True)
    d = session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n"), reason
    assert "ValueError: failing on purpose (--fail 3)" in reason
    assert 'train.py --fail 3"' in reason and reason.endswith(", exit code: 1")


def test_requirement_missing_from_the_wheelhouse_is_named(session, tmp_path, wheelhouse):
    from sagemaker.exceptions import UnexpectedStatusException

    est = estimator(session, tmp_path, "pt-req", requirements="sagebox-not-in-wheelhouse==1.0\n",
                    hyperparameters={"epochs": 1})
    with pytest.raises(UnexpectedStatusException):
        est.fit(logs=True)
    d = session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert reason.startswith("ClientError: InstallRequirementsError: requirements.txt needs "
                             "sagebox-not-in-wheelhouse==1.0, not found in sagebox's wheelhouse %s." % wheelhouse), reason
    assert "`sagebox wheels add sagebox-not-in-wheelhouse`" in reason


SDK3_PYTHON = os.environ.get("SAGEBOX_SDK3_PYTHON")


@pytest.mark.skipif(not SDK3_PYTHON and os.environ.get("CI") != "true", reason="SAGEBOX_SDK3_PYTHON not set")
def test_sdk3_model_trainer_runs_a_pytorch_script(server, session, tmp_path):
    """SDK v3's ModelTrainer with SourceCode (its own bash driver as the entry point, the venv's
    python3 from PATH) on the PyTorch 2.1 training image's URI. Its driver makes
    /opt/ml/input/data/sm_drivers/sm_train.sh executable: small channels are writable copies."""
    import subprocess

    from sagemaker import image_uris

    assert SDK3_PYTHON, "make test sets SAGEBOX_SDK3_PYTHON"
    bucket = session.default_bucket()
    train = session.upload_data(str(DIGITS / "train.csv"), bucket, "sdk3-pt/train")
    uri = image_uris.retrieve("pytorch", "us-east-1", version="2.1", py_version="py310",
                              instance_type="ml.m5.large", image_scope="training")
    proc = subprocess.run([SDK3_PYTHON, str(REPO / "tests" / "sdk3" / "pytorch_trainer.py"), server.url, bucket,
                           train.rsplit("/", 1)[0] + "/", source_dir(tmp_path), uri],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "Completed", result
    metrics = json.loads(model_members(session, result["model"])["metrics.json"])
    assert metrics["train_accuracy"] > 0.9, metrics
    assert metrics["env"]["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
