"""Contract of the `sklearn` image (SageMaker scikit-learn 1.2-1 script mode): fetching the source
directory, hyperparameters as script arguments, the SM_* environment, failures, and serving the
user's module with the container's default input/predict/output functions. The source directory is
also fetched from a minimal S3 endpoint through AWS_ENDPOINT_URL, as sagebox serves it."""
import http.server
import io
import json
import os
import subprocess
import threading
import time

import numpy as np

from support import OWNER_LABEL, Endpoint, OptMl, csv_body, fixture, make_sourcedir, npy_bytes, read_csv, run_training

IMAGE = "sklearn"
SCRIPT_DIR = fixture("sklearn_script")


def _job(tmp_path, extra_hps=None, submit="file:///opt/ml/input/sourcedir.tar.gz"):
    hps = {
        "C": "1.0",
        "max_iter": "3000",
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(submit),
        "sagemaker_region": json.dumps("us-east-1"),
        "sagemaker_job_name": json.dumps("sklearn-job"),
        "sagemaker_container_log_level": "20",
    }
    hps.update(extra_hps or {})
    job = OptMl(tmp_path / "job", hps, {"train": {"content_type": "text/csv", "files": [fixture("digits_zero", "train.csv")]}})
    make_sourcedir(SCRIPT_DIR, job.path("input", "sourcedir.tar.gz"))
    return job


def test_script_mode_training_environment_and_serving(image, tmp_path):
    job = _job(tmp_path)
    rc, logs = run_training(image, job)
    assert rc == 0, logs
    assert os.path.isfile(os.path.join(job.model_dir, "model.joblib"))
    seen = json.load(open(job.path("output", "data", "environment.json")))
    env = seen["env"]
    # Hyperparameters minus sagemaker_* become sorted --name value arguments.
    assert seen["argv"] == ["-C", "1.0", "--max_iter", "3000"]  # one-letter names get one dash
    assert seen["cwd"] == "/opt/ml/code"
    assert json.loads(env["SM_HPS"]) == {"C": 1.0, "max_iter": 3000}
    assert env["SM_HP_C"] == "1.0" and env["SM_HP_MAX_ITER"] == "3000"
    assert json.loads(env["SM_USER_ARGS"]) == ["-C", "1.0", "--max_iter", "3000"]
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_CHANNELS"] == '["train"]'
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_CURRENT_HOST"] == "algo-1" and env["SM_HOSTS"] == '["algo-1"]'
    assert int(env["SM_NUM_CPUS"]) >= 1 and env["SM_NUM_GPUS"] == "0"
    assert env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert env["SM_INPUT_DIR"] == "/opt/ml/input" and env["SM_INPUT_CONFIG_DIR"] == "/opt/ml/input/config"
    assert env["SM_OUTPUT_DIR"] == "/opt/ml/output"
    assert env["SM_MODULE_NAME"] == "train" and env["SM_USER_ENTRY_POINT"] == "train.py"
    assert env["SM_MODULE_DIR"] == "file:///opt/ml/input/sourcedir.tar.gz"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["hyperparameters"] == {"C": 1.0, "max_iter": 3000}
    assert training_env["job_name"] == "sklearn-job"
    assert json.loads(env["SM_INPUT_DATA_CONFIG"])["train"]["ContentType"] == "text/csv"
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {}

    # Serving as the SDK deploys it: the code repacked under model/code.
    code = os.path.join(job.model_dir, "code")
    os.makedirs(code)
    with open(os.path.join(SCRIPT_DIR, "train.py")) as src, open(os.path.join(code, "train.py"), "w") as dst:
        dst.write(src.read())
    y, X = read_csv(fixture("digits_zero", "test.csv"))
    env = {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    with Endpoint(image, job.model_dir, env=env) as ep:
        ep.wait_ready()
        status, body, _ = ep.invoke(csv_body(X), "text/csv", "application/json")
        assert status == 200, body
        preds = np.array(json.loads(body))
        accuracy = float((preds == y).mean())
        print("sklearn script-mode digit-is-zero accuracy: %.4f" % accuracy)
        assert accuracy > 0.95

        # The SDK's default for SKLearnPredictor: numpy in, numpy out.
        status, body, headers = ep.invoke(npy_bytes(X[:10]), "application/x-npy", "application/x-npy")
        assert status == 200, body
        assert headers["Content-Type"] == "application/x-npy"
        np.testing.assert_array_equal(np.load(io.BytesIO(body)), preds[:10])

        status, body, _ = ep.invoke(json.dumps(X[:3].tolist()), "application/json", "text/csv")
        assert status == 200 and len(body.decode().split()) == 3


def test_failing_script_writes_failure_and_exit_code(image, tmp_path):
    job = _job(tmp_path, {"fail": "1"})
    rc, logs = run_training(image, job)
    assert rc != 0
    failure = job.failure()
    assert failure.startswith("AlgorithmError: ExecuteUserScriptError:"), failure
    assert "failing on purpose" in failure and "ExitCode 1" in failure


def test_model_fn_is_required_when_serving(image, tmp_path):
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    (model / "code" / "inference.py").write_text("x = 1\n")
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    with Endpoint(image, str(model), env=env) as ep:
        deadline = time.time() + 120
        while True:
            try:
                status, body, _ = ep.request("GET", "/ping")
                break
            except OSError:
                assert time.time() < deadline, ep.logs()
                time.sleep(0.5)
        assert status == 500 and b"model_fn" in body, body


class _S3(http.server.BaseHTTPRequestHandler):
    """Just enough S3 for boto3's download_file: HEAD and GET of the objects in `objects`."""

    objects = {}
    requests = []

    def _object(self):
        self.requests.append((self.command, self.path, self.headers.get("Authorization", "")))
        return self.objects.get(self.path.split("?")[0])

    def do_HEAD(self):
        body = self._object()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.send_header("ETag", '"abc"')
        self.end_headers()

    def do_GET(self):
        body = self._object()
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"abc"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_sourcedir_from_s3_through_aws_endpoint_url(image, tmp_path):
    job = _job(tmp_path, submit="s3://code-bucket/job/source/sourcedir.tar.gz")
    _S3.objects = {"/code-bucket/job/source/sourcedir.tar.gz": open(job.path("input", "sourcedir.tar.gz"), "rb").read()}
    _S3.requests = []
    srv = http.server.ThreadingHTTPServer(("0.0.0.0", 0), _S3)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        env = {
            "AWS_ENDPOINT_URL": "http://host.docker.internal:%d" % srv.server_address[1],
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
        }
        cmd = ["docker", "run", "--rm", "--label", OWNER_LABEL, "--add-host", "host.docker.internal:host-gateway",
               "-v", "%s:/opt/ml" % job.root]
        for k, v in env.items():
            cmd += ["-e", "%s=%s" % (k, v)]
        proc = subprocess.run(cmd + [image, "train"], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        srv.shutdown()
    assert os.path.isfile(os.path.join(job.model_dir, "model.joblib"))
    assert any(cmd == "GET" and "AWS4-HMAC-SHA256" in auth for cmd, _, auth in _S3.requests), _S3.requests
