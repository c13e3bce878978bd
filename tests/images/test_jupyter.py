"""The `jupyter` image starts Jupyter (JupyterLab 4 / Notebook 7) answering /api on its port, and its
kernel's Python has the SageMaker SDK, boto3 and the scientific stack. The notebook issue tests the
rest."""
import json
import subprocess
import time

from support import OWNER_LABEL, Endpoint

IMAGE = "jupyter"


def test_starts_and_answers_api(image):
    with Endpoint(image, None, args=(), port=8888) as ep:
        body = ep.wait_ready("/api", timeout=180)
        assert "version" in json.loads(body)
        status, body, _ = ep.request("GET", "/api/kernelspecs")
        assert status == 200, body
        specs = json.loads(body)["kernelspecs"]
        assert specs["python3"]["spec"]["argv"][0] == "/opt/venv/bin/python3"
        status, _, _ = ep.request("GET", "/lab")
        assert status == 200


def test_kernel_python_has_the_sdk_and_the_stack(image):
    code = ("import sagemaker, boto3, numpy, pandas, sklearn, matplotlib, xgboost; "
            "print(sagemaker.__version__, boto3.__version__, numpy.__version__, sklearn.__version__)")
    proc = subprocess.run(["docker", "run", "--rm", "--label", OWNER_LABEL, image, "python3", "-c", code],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sdk, b3, np_version, skl = proc.stdout.split()[-4:]
    assert sdk.startswith("2.") and b3 >= "1.28" and np_version == "1.24.2" and skl.startswith("1.2")


def test_kernel_starts_with_a_token(image):
    token = {"Authorization": "token sagebox-test"}
    with Endpoint(image, None, args=(), port=8888, env={"JUPYTER_TOKEN": "sagebox-test"}) as ep:
        ep.wait_ready("/api", timeout=180)
        status, _, _ = ep.request("GET", "/api/contents")
        assert status == 403, "the token is enforced"
        status, body, _ = ep.request("POST", "/api/kernels", b'{"name": "python3"}',
                                     dict(token, **{"Content-Type": "application/json"}))
        assert status == 201, body
        kernel = json.loads(body)["id"]
        # Without a websocket client Jupyter Server may keep reporting "starting"; what matters
        # here is that the kernel process came up with the venv's Python (the notebook issue
        # drives code through it).
        deadline = time.time() + 120
        while "Kernel started: " + kernel not in ep.logs():
            assert time.time() < deadline, ep.logs()
            time.sleep(1)
        status, body, _ = ep.request("GET", "/api/kernels/" + kernel, headers=token)
        assert status == 200, body
        assert json.loads(body)["execution_state"] in ("starting", "idle", "busy"), body
