"""Framework script mode, as the SageMaker training and inference toolkits run it.

Training: the SDK adds `sagemaker_program` (the entry point) and `sagemaker_submit_directory` (an S3
URI of sourcedir.tar.gz) to the hyperparameters. The code is fetched into /opt/ml/code, a
requirements.txt there is pip-installed, and the entry point runs with the remaining hyperparameters
as `--name value` arguments and the SM_* variables in its environment. A non-zero exit becomes
/opt/ml/output/failure ("AlgorithmError: ExecuteUserScriptError: ...") and the same exit code.

Serving: SAGEMAKER_PROGRAM names the module and SAGEMAKER_SUBMIT_DIRECTORY where it lives
(default /opt/ml/model/code, where the SDK repacks it; an S3 URI is fetched at start). The module's
model_fn / input_fn / predict_fn / output_fn (or transform_fn) are used, each falling back to the
framework's default.

S3 is reached with boto3, which honours AWS_ENDPOINT_URL (sagebox passes
http://host.docker.internal:PORT); local paths and file:// URIs work too, for tests.
"""
import collections
import importlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from urllib.parse import urlparse

from . import codecs, environment

log = logging.getLogger("sagebox.scriptmode")

UTF8_TYPES = (codecs.JSON, codecs.CSV)


# ---------------------------------------------------------------- fetching code

def _s3_client(region=None):
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        region_name=region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"})
    if session.get_credentials() is None:
        from botocore import UNSIGNED

        config = config.merge(Config(signature_version=UNSIGNED))
    return session.client("s3", config=config)


def _extract(archive, dest):
    with tarfile.open(archive) as tar:
        try:
            tar.extractall(dest, filter="data")
        except TypeError:  # Python without extraction filters
            tar.extractall(dest)


def fetch_code(uri, dest, region=None):
    """Put the code named by `uri` (s3://…/sourcedir.tar.gz, file://…, a path to a tarball, a
    directory or a single script) into `dest`."""
    os.makedirs(dest, exist_ok=True)
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        key = parsed.path.lstrip("/")
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, os.path.basename(key) or "sourcedir.tar.gz")
            log.info("downloading %s", uri)
            _s3_client(region).download_file(parsed.netloc, key, local)
            if tarfile.is_tarfile(local):
                _extract(local, dest)
            else:
                shutil.copy(local, dest)
        return
    path = parsed.path if parsed.scheme == "file" else uri
    if os.path.isdir(path):
        if os.path.abspath(path) != os.path.abspath(dest):
            shutil.copytree(path, dest, dirs_exist_ok=True)
    elif tarfile.is_tarfile(path):
        _extract(path, dest)
    elif os.path.isfile(path):
        shutil.copy(path, dest)
    else:
        raise environment.ClientError("cannot fetch code from %s" % uri)


WHEELHOUSE = "/opt/sagebox/wheelhouse"


class InstallRequirementsError(environment.ClientError):
    """requirements.txt could not be installed (the toolkit's InstallRequirementsError)."""


_MISSING = (
    re.compile(r"No matching distribution found for ([^\s]+)"),
    re.compile(r"Could not find a version that satisfies the requirement ([^\s]+)"),
)


def missing_packages(pip_output):
    """The requirements pip could not find, in the order it named them."""
    names = []
    for pattern in _MISSING:
        for match in pattern.finditer(pip_output):
            name = match.group(1).rstrip(".,;")
            if name not in names:
                names.append(name)
    return names


def _requirement_name(spec):
    return re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0]


def install_requirements(code_dir):
    """pip-install code_dir/requirements.txt offline, from sagebox's wheelhouse.

    Containers never reach the network: packages come from $SAGEBOX_WHEELHOUSE (the user's
    wheelhouse, bind-mounted read-only) and what the image already has satisfies a requirement
    without a download. A package pip cannot find fails the job with a ClientError that names it
    and says how to add it (`sagebox wheels add PKG`).
    """
    req = os.path.join(code_dir, "requirements.txt")
    if not os.path.isfile(req):
        return
    wheelhouse = os.environ.get("SAGEBOX_WHEELHOUSE") or WHEELHOUSE
    cmd = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
           "--root-user-action=ignore", "--no-index"]
    if os.path.isdir(wheelhouse):
        cmd += ["--find-links", wheelhouse]
    cmd += ["-r", "requirements.txt"]
    log.info("installing requirements.txt from the wheelhouse: %s", " ".join(cmd))
    proc = subprocess.run(cmd, cwd=code_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.decode("utf-8", "replace")
    sys.stdout.write(output)
    sys.stdout.flush()
    if proc.returncode == 0:
        return
    host = os.environ.get("SAGEBOX_WHEELHOUSE_HOST") or ""
    where = ("sagebox's wheelhouse %s" % host) if host else ("the wheelhouse %s" % wheelhouse)
    missing = missing_packages(output)
    if missing:
        names = " ".join(_requirement_name(m) for m in missing)
        raise InstallRequirementsError(
            "InstallRequirementsError: requirements.txt needs %s, not found in %s. "
            "Jobs run offline: pip installs only from the wheelhouse and what the image has. "
            "Add the package with `sagebox wheels add %s` and run the job again."
            % (", ".join(missing), where, names)
        )
    tail = [line for line in output.strip().splitlines() if line.strip()][-3:]
    raise InstallRequirementsError(
        'InstallRequirementsError:\nExitCode %d\nErrorMessage "%s"\nCommand "%s" (offline, from %s)'
        % (proc.returncode, " | ".join(tail)[-500:], " ".join(cmd), where)
    )


# ---------------------------------------------------------------- training

def _entry_command(program, code_dir, args):
    path = os.path.join(code_dir, program)
    if program.endswith(".py"):
        return [sys.executable, program] + args
    if os.path.isfile(os.path.join(code_dir, "setup.py")) and not os.path.isfile(path):
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "."], cwd=code_dir, check=True)
        return [sys.executable, "-m", program] + args
    if os.access(path, os.X_OK):
        return ["./" + program] + args
    return ["/bin/sh", program] + args


def _tee(stream, sink, tail):
    for raw in iter(stream.readline, b""):
        sink.buffer.write(raw)
        sink.buffer.flush()
        tail.append(raw.decode("utf-8", "replace"))
    stream.close()


def error_message(lines, limit=600):
    """The toolkit's ErrorMessage: stderr from the (last) traceback on, lines de-duplicated in
    order; when long, its end, which names the exception."""
    lines = [line.rstrip("\n") for line in lines]
    start = 0
    for i, line in enumerate(lines):
        if "Traceback (most recent call last)" in line:
            start = i
    kept = list(dict.fromkeys(line.strip(" :") for line in lines[start:] if line.strip()))
    message = "\n".join(kept)
    if len(message) > limit:
        message = "…" + message[-limit:]
    return message


def user_script_failure(code, stderr_lines, cmd):
    """/opt/ml/output/failure for a user script that exited with `code` (SageMaker's
    FailureReason for the toolkit's ExecuteUserScriptError)."""
    command = " ".join(cmd)
    if len(command) > 200:
        command = command[:200] + "…"
    extra = ""
    if code in (137, -9):
        extra = '\nExtraInfo "OutOfMemory: Process killed by SIGKILL (signal 9)"'
    return 'AlgorithmError: ExecuteUserScriptError:\nExitCode %d\nErrorMessage "%s"%s\nCommand "%s", exit code: %d' % (
        code, error_message(stderr_lines), extra, command, code
    )


def train(launcher=None):
    """The `train` command of a script-mode image.

    `launcher(tenv, framework, cmd, env)` may replace the command that runs the entry point (a
    distributed launcher such as torchrun) and add to its environment; it returns the command.
    """
    hps = environment.hyperparameters()
    framework, user = environment.split_hyperparameters(hps)
    program = os.environ.get("SAGEMAKER_PROGRAM") or framework.get("sagemaker_program")
    if not program:
        raise environment.ClientError(
            "no entry point: set the sagemaker_program hyperparameter (the SDK's entry_point)"
        )
    submit_dir = framework.get("sagemaker_submit_directory") or os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY")
    code_dir = environment.CODE_DIR
    if submit_dir:
        fetch_code(submit_dir, code_dir, framework.get("sagemaker_region"))
    if not os.path.isfile(os.path.join(code_dir, program)) and not os.path.isfile(os.path.join(code_dir, "setup.py")):
        raise environment.ClientError("entry point %s not found in %s" % (program, submit_dir or code_dir))
    install_requirements(code_dir)

    for d in (environment.MODEL_DIR, environment.OUTPUT_DATA_DIR):
        os.makedirs(d, exist_ok=True)
    tenv = environment.training_env(hps, program=program, module_dir=submit_dir or code_dir)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (code_dir, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if framework.get("sagemaker_region"):
        env.setdefault("AWS_REGION", str(framework["sagemaker_region"]))
    cmd = _entry_command(program, code_dir, environment.to_cmd_args(user))
    if launcher:
        cmd = launcher(tenv, framework, cmd, env)
    env.update(environment.sm_env_vars(tenv))
    log.info("invoking user script: %s", " ".join(cmd))

    proc = subprocess.Popen(cmd, cwd=code_dir, env=env, stderr=subprocess.PIPE)
    tail = collections.deque(maxlen=40)
    reader = threading.Thread(target=_tee, args=(proc.stderr, sys.stderr, tail), daemon=True)
    reader.start()
    code = proc.wait()
    reader.join()
    if code != 0:
        environment.write_failure(user_script_failure(code, tail, cmd))
        log.error("user script exited with code %d", code)
        sys.exit(code if 0 < code < 256 else 1)
    log.info("reporting training SUCCESS")


def train_main(launcher=None):
    environment.run_training(lambda: train(launcher))


# ---------------------------------------------------------------- serving

def prepare_serving():
    """Before gunicorn forks: locate (or fetch) the user's code, install its requirements and tell
    the workers where it is. Returns (module name, code dir)."""
    program = os.environ.get("SAGEMAKER_PROGRAM", "")
    submit = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    model_code = os.path.join(environment.MODEL_DIR, "code")
    if submit and urlparse(submit).scheme == "s3":
        fetch_code(submit, environment.CODE_DIR, os.environ.get("SAGEMAKER_REGION"))
        code_dir = environment.CODE_DIR
    elif submit:
        path = urlparse(submit).path if submit.startswith("file://") else submit
        if os.path.isdir(path):
            code_dir = path
        else:
            fetch_code(submit, environment.CODE_DIR)
            code_dir = environment.CODE_DIR
    else:
        code_dir = model_code
    if program and os.path.isdir(code_dir):
        install_requirements(code_dir)
    os.environ["SAGEBOX_USER_CODE_DIR"] = code_dir
    return environment.module_name(program), code_dir


def _unpack_result(result, accept):
    if isinstance(result, tuple) and len(result) == 2:
        return result[0], result[1]
    if hasattr(result, "get_data") and hasattr(result, "mimetype"):
        return result.get_data(), result.mimetype or accept
    return result, accept


class UserModuleHandler:
    """A `server` handler running the user's model_fn / input_fn / predict_fn / output_fn.

    Subclasses name the framework's defaults with `defaults` (a module with default_model_fn,
    default_input_fn, default_predict_fn, default_output_fn).
    """

    defaults = None

    def load(self):
        program = environment.module_name(os.environ.get("SAGEMAKER_PROGRAM", ""))
        code_dir = os.environ.get("SAGEBOX_USER_CODE_DIR") or os.path.join(environment.MODEL_DIR, "code")
        module = None
        if program:
            sys.path.insert(0, code_dir)
            module = importlib.import_module(program)
            log.info("imported user module %s from %s", program, code_dir)
        defaults = importlib.import_module(self.defaults)

        def pick(name):
            fn = getattr(module, name, None) if module else None
            return fn or getattr(defaults, "default_" + name)

        self.transform_fn = getattr(module, "transform_fn", None) if module else None
        self.model_fn = pick("model_fn")
        self.input_fn = pick("input_fn")
        self.predict_fn = pick("predict_fn")
        self.output_fn = pick("output_fn")
        self.model = self.model_fn(environment.MODEL_DIR)

    def invoke(self, body, content_type, accept):
        default_accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", codecs.JSON)
        if not accept or accept.strip() == "*/*":
            accept = default_accept
        media, _ = codecs.parse_content_type(content_type, codecs.JSON)
        data = body.decode("utf-8") if media in UTF8_TYPES else body
        content_type = content_type or codecs.JSON
        if self.transform_fn:
            return _unpack_result(self.transform_fn(self.model, data, content_type, accept), accept)
        prediction = self.predict_fn(self.input_fn(data, content_type), self.model)
        return _unpack_result(self.output_fn(prediction, accept), accept)


def serve_main(handler_spec):
    """The `serve` command of a script-mode image: prepare the code, then run gunicorn."""
    environment.setup_logging()
    prepare_serving()
    from . import server

    server.serve(handler_spec)
