"""The notebook image: `docker run IMAGE` (or `… serve`) starts JupyterLab / Notebook 7.

Settings come from the environment, so sagebox can configure a notebook instance without
rewriting the command:

  JUPYTER_PORT      port inside the container (default 8888)
  JUPYTER_TOKEN     access token; empty (the default) means no token: the port is only
                    published on 127.0.0.1 and sagebox fronts it with presigned URLs
  JUPYTER_BASE_URL  URL prefix when sagebox proxies the server (default /)
  NOTEBOOK_DIR      the directory the file browser opens (default /home/ec2-user/SageMaker,
                    where notebook instances keep their files)
  JUPYTER_ARGS      extra arguments for `jupyter lab`, split on spaces

The SDK and boto3 in the kernel honour AWS_ENDPOINT_URL / AWS_REGION / AWS_* credentials as
sagebox passes them.
"""
import os
import shlex
import sys


def default():
    port = os.environ.get("JUPYTER_PORT", "8888")
    root = os.environ.get("NOTEBOOK_DIR", "/home/ec2-user/SageMaker")
    os.makedirs(root, exist_ok=True)
    args = [
        sys.executable, "-m", "jupyterlab",
        "--ip=0.0.0.0", "--port=%s" % port, "--no-browser", "--allow-root",
        "--ServerApp.root_dir=%s" % root,
        "--ServerApp.token=%s" % os.environ.get("JUPYTER_TOKEN", ""),
        "--ServerApp.password=",
        "--ServerApp.base_url=%s" % os.environ.get("JUPYTER_BASE_URL", "/"),
        "--ServerApp.allow_remote_access=True",
        "--ServerApp.terminado_settings=shell_command=['/bin/bash']",
    ]
    args += shlex.split(os.environ.get("JUPYTER_ARGS", ""))
    os.execv(sys.executable, args)


serve = default
train = None
