"""SageMaker TensorFlow script mode: `train` runs the user's entry point as the TensorFlow training
toolkit (sagemaker_tensorflow_container.training) does, `serve` answers as the TensorFlow Serving
container (sagemaker-tensorflow-serving-container) does, through sagebox_tfs.

Training adds to the shared script mode (sagebox_container.scriptmode):
- the SDK's `model_dir` hyperparameter reaches the script as `--model_dir`; in a tuning job
  (`_tuning_objective_metric` set) a model_dir outside /opt/ml gets `/<job name>/model` appended;
- `distribution={"multi_worker_mirrored_strategy": {"enabled": True}}`: TF_CONFIG with every
  distribution host as a worker on port 8890, this host's index as the task;
- `distribution={"parameter_server": {"enabled": True}}` on more than one host: TF_CONFIG with
  algo-1 as `master` (port 2222), the others as `worker` (2222) and every host as `ps` (2223); a
  parameter server (tf.distribute.Server, CPU only) runs beside the script on each host, and a
  worker waits for the master to go away before it ends;
- S3_REGION, S3_USE_HTTPS and TF_CPP_MIN_LOG_LEVEL=1 in the script's environment;
- a warning when /opt/ml/model holds no SavedModel under a numeric version folder.

TensorFlow itself is never imported here (it takes seconds): only the parameter server process and
the user's script load it.
"""
import inspect
import json
import logging
import os
import socket
import subprocess
import sys
import time

from sagebox_container import environment, scriptmode

log = logging.getLogger("sagebox.tensorflow")

PS_ENABLED = "sagemaker_parameter_server_enabled"
MWMS_ENABLED = "sagemaker_multi_worker_mirrored_strategy_enabled"
MASTER_PORT = 2222
PS_PORT = 2223
MWMS_PORT = 8890


# ---------------------------------------------------------------- TF_CONFIG (the toolkit's shapes)

def tf_config_for_ps(hosts, current_host, ps_task=False):
    """TF_CONFIG for parameter-server training: the first host is the master, the others workers,
    every host (when there are several) also runs a parameter server."""
    masters, workers = hosts[:1], hosts[1:]
    ps = hosts if len(hosts) > 1 else None
    cluster = {"master": ["%s:%d" % (h, MASTER_PORT) for h in masters]}
    if ps:
        cluster["ps"] = ["%s:%d" % (h, PS_PORT) for h in ps]
    if workers:
        cluster["worker"] = ["%s:%d" % (h, MASTER_PORT) for h in workers]
    if ps_task:
        if ps is None:
            raise ValueError("Cannot have a ps task if there are no parameter servers in the cluster")
        task = {"index": ps.index(current_host), "type": "ps"}
    elif current_host == hosts[0]:
        task = {"index": 0, "type": "master"}
    else:
        task = {"index": workers.index(current_host), "type": "worker"}
    return {"cluster": cluster, "environment": "cloud", "task": task}


def tf_config_for_mwms(hosts, current_host):
    """TF_CONFIG for MultiWorkerMirroredStrategy: every host is a worker."""
    return {
        "cluster": {"worker": ["%s:%d" % (h, MWMS_PORT) for h in hosts]},
        "environment": "cloud",
        "task": {"index": hosts.index(current_host), "type": "worker"},
    }


def distribution_hosts(framework, rc):
    """The toolkit's distribution hosts: the hosts of the distribution instance groups (the SDK's
    `instance_groups`, else the current group when a strategy is enabled); all hosts on a
    homogeneous cluster."""
    hosts = rc.get("hosts") or [rc.get("current_host", "algo-1")]
    current_group = rc.get("current_group_name", "homogeneousCluster")
    groups = framework.get("sagemaker_distribution_instance_groups")
    if groups is None:
        groups = [current_group] if (framework.get(PS_ENABLED) or framework.get(MWMS_ENABLED)) else []
    if current_group not in groups:
        return hosts, False
    configured = rc.get("instance_groups") or []
    if configured:
        return [h for g in configured if g.get("instance_group_name") in groups for h in g.get("hosts", [])], True
    return list(hosts), True


# ---------------------------------------------------------------- the parameter server

PS_PROGRAM = """
import json, os
import tensorflow as tf
config = json.loads(os.environ["TF_CONFIG"])
server = tf.distribute.Server(tf.train.ClusterSpec(config["cluster"]), job_name="ps",
                              task_index=config["task"]["index"],
                              config=tf.compat.v1.ConfigProto(device_count={"GPU": 0}))
print("sagebox: parameter server %s listening" % config["cluster"]["ps"][config["task"]["index"]], flush=True)
server.join()
"""


def start_parameter_server(hosts, current_host):
    env = dict(os.environ)
    env["TF_CONFIG"] = json.dumps(tf_config_for_ps(hosts, current_host, ps_task=True))
    log.info("Launching parameter server process")
    return subprocess.Popen([sys.executable, "-c", PS_PROGRAM], env=env)


def wait_until_master_is_down(master, interval=2.0):
    """As the toolkit's workers do: poll the master's port until nothing answers there."""
    while True:
        try:
            with socket.create_connection((master, MASTER_PORT), timeout=2):
                pass
        except OSError:
            log.info("master %s is down, stopping parameter server", master)
            return
        log.info("master %s is still up, waiting for it to exit", master)
        time.sleep(interval)


def model_dir_for_tuning(model_dir, job_name):
    if model_dir and str(model_dir).startswith("/opt/ml"):
        return model_dir
    return "%s/%s/model" % (model_dir, job_name)


def log_model_missing_warning(model_dir=environment.MODEL_DIR):
    saved_model = files = False
    for dirpath, _, filenames in os.walk(model_dir):
        files = files or bool(filenames)
        for f in filenames:
            if f in ("saved_model.pb", "saved_model.pbtxt"):
                saved_model = True
                parent = os.path.basename(dirpath)
                if not parent.isdigit():
                    log.warning(
                        "Your model will NOT be servable with SageMaker TensorFlow Serving containers. "
                        'The SavedModel bundle is under directory "%s", not a numeric name.', parent
                    )
    if not files:
        log.warning("No model artifact is saved under path %s. Your training job will not save any model files to S3.",
                    model_dir)
    elif not saved_model:
        log.warning("Your model will NOT be servable with SageMaker TensorFlow Serving container. "
                    "The model artifact was not saved in the TensorFlow SavedModel directory structure.")


# ---------------------------------------------------------------- train

def _launcher(tenv, framework, cmd, env):
    """scriptmode's launcher hook (when the shared script mode has one): a tuning job's model_dir."""
    if "_tuning_objective_metric" in framework and "model_dir" in tenv["hyperparameters"]:
        new = model_dir_for_tuning(tenv["hyperparameters"]["model_dir"], tenv.get("job_name"))
        log.info("Appending the training job name to model_dir: %s", new)
        tenv["hyperparameters"]["model_dir"] = new
        cmd = list(cmd)
        for i, arg in enumerate(cmd[:-1]):
            if arg == "--model_dir":
                cmd[i + 1] = str(new)
    return cmd


def _run_script():
    takes_launcher = "launcher" in inspect.signature(scriptmode.train).parameters
    if takes_launcher:
        scriptmode.train(launcher=_launcher)
    else:
        scriptmode.train()


def _train():
    hps = environment.hyperparameters()
    framework, _ = environment.split_hyperparameters(hps)
    rc = environment.resource_config()
    hosts = rc.get("hosts") or [rc.get("current_host", "algo-1")]
    current = rc.get("current_host", hosts[0])
    dist_hosts, distributed = distribution_hosts(framework, rc)
    ps_enabled = bool(framework.get(PS_ENABLED)) and len(hosts) > 1
    mwms_enabled = bool(framework.get(MWMS_ENABLED))

    region = framework.get("sagemaker_region") or os.environ.get("AWS_REGION") or ""
    os.environ["S3_REGION"] = str(region)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "1"
    os.environ["S3_USE_HTTPS"] = "1"

    ps = None
    if distributed and ps_enabled:
        os.environ["TF_CONFIG"] = json.dumps(tf_config_for_ps(dist_hosts, current))
        log.info("Running distributed training job with parameter servers")
        ps = start_parameter_server(dist_hosts, current)
    elif distributed and mwms_enabled:
        os.environ["TF_CONFIG"] = json.dumps(tf_config_for_mwms(dist_hosts, current))
        log.info("Running distributed training job with multi_worker_mirrored_strategy setup")
    if "TF_CONFIG" in os.environ:
        log.info("TF_CONFIG=%s", os.environ["TF_CONFIG"])
    try:
        _run_script()
        if ps is not None and current != hosts[0]:
            wait_until_master_is_down(hosts[0])
    finally:
        if ps is not None and ps.poll() is None:
            ps.terminate()
            try:
                ps.wait(timeout=10)
            except subprocess.TimeoutExpired:
                ps.kill()
    log_model_missing_warning()


def train():
    environment.run_training(_train)


def serve():
    environment.setup_logging()
    import sagebox_tfs

    sagebox_tfs.main()
