"""The `jupyter` image starts Jupyter (JupyterLab 4 / Notebook 7) answering /api on its port, its
kernel's Python has the SageMaker SDK, boto3 and the scientific stack, a notebook whose `%%time` cell
raises stops there, and the AWS CLI is on the PATH on the SDK's botocore. The notebook instance tests
(tests/clients/test_notebooks.py) take the CLI to sagebox."""
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


# Run inside the image by the kernel's Python: a notebook whose first cell raises under `%%time`
# and whose second cell needs what the first would have defined, executed as nbconvert does.
TIME_CELL_NOTEBOOK = """
import json, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
nb.cells = [nbformat.v4.new_code_cell("%%time\\nraise ValueError('raised under time')\\nafter = 1"),
            nbformat.v4.new_code_cell("print('the second cell ran', after)")]
error = None
try:
    NotebookClient(nb, timeout=120).execute()
except CellExecutionError as e:
    error = {"ename": e.ename, "evalue": e.evalue}
first = "".join(o.get("text", "") for o in nb.cells[0].outputs if o["output_type"] == "stream")
print(json.dumps({"error": error, "counts": [c.execution_count for c in nb.cells], "first": first}))
"""


def test_a_time_cell_that_raises_stops_the_notebook_with_its_error(image):
    """IPython before 9.4 printed the traceback of a `%%time` cell but reported success, so the
    next cell ran and the notebook failed later, with a NameError."""
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--label", OWNER_LABEL, image,
                           "/opt/venv/bin/python3", "-c", TIME_CELL_NOTEBOOK],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["error"] == {"ename": "ValueError", "evalue": "raised under time"}, result
    assert result["counts"] == [1, None], "the second cell never ran"
    assert "Wall time" in result["first"], result  # and the time is still reported


def test_the_aws_cli_is_on_the_image_path_on_the_sdks_botocore(image):
    code = "import boto3, botocore; print(boto3.__version__, botocore.__version__)"
    sdk = subprocess.run(["docker", "run", "--rm", "--network", "none", "--label", OWNER_LABEL, image,
                          "/opt/venv/bin/python3", "-c", code], capture_output=True, text=True, timeout=300)
    assert sdk.returncode == 0, sdk.stdout + sdk.stderr
    botocore_version = sdk.stdout.split()[-1]
    # Past the entry point (which puts the venv first on PATH), as `docker exec` and lifecycle
    # configuration scripts see the image.
    cli = subprocess.run(["docker", "run", "--rm", "--network", "none", "--label", OWNER_LABEL,
                          "--entrypoint", "/bin/bash", image, "-c", "command -v aws && aws --version"],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    where, version = cli.stdout.split("\n", 1)[0], cli.stdout.split("\n", 1)[1] + cli.stderr
    assert where == "/usr/local/bin/aws", cli.stdout
    assert version.startswith("aws-cli/1.") and f"botocore/{botocore_version}" in version, version
