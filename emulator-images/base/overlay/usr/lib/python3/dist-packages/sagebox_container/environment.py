"""The SageMaker training environment as a container sees it.

Paths under /opt/ml (or $SAGEMAKER_BASE_DIR), the three config files SageMaker writes before
`train` starts, and the SM_* environment variables that the SageMaker training toolkit derives
from them for user scripts. Failures are reported the SageMaker way: a message in
/opt/ml/output/failure and a non-zero exit.
"""
import json
import logging
import math
import os
import sys
import traceback

BASE_DIR = os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")
INPUT_DIR = os.path.join(BASE_DIR, "input")
INPUT_CONFIG_DIR = os.path.join(INPUT_DIR, "config")
INPUT_DATA_DIR = os.path.join(INPUT_DIR, "data")
MODEL_DIR = os.path.join(BASE_DIR, "model")
CODE_DIR = os.path.join(BASE_DIR, "code")
OUTPUT_DIR = os.path.join(BASE_DIR, "output")
OUTPUT_DATA_DIR = os.path.join(OUTPUT_DIR, "data")
OUTPUT_INTERMEDIATE_DIR = os.path.join(OUTPUT_DIR, "intermediate")
FAILURE_FILE = os.path.join(OUTPUT_DIR, "failure")

# Hyperparameters the SageMaker SDK adds for the framework; they are not the script's arguments.
SAGEMAKER_HYPERPARAMETERS = (
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
)


# Framework parameters that enable a distribution strategy (the toolkit's list).
DISTRIBUTION_FLAGS = (
    "sagemaker_mpi_enabled",
    "sagemaker_parameter_server_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_pytorch_ddp_enabled",
    "sagemaker_pytorch_xla_multi_worker_enabled",
    "sagemaker_multi_worker_mirrored_strategy_enabled",
    "sagemaker_torch_distributed_enabled",
)


class ClientError(Exception):
    """A problem with the job's input or configuration (SageMaker's "ClientError:" failures)."""


def setup_logging():
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="[%(asctime)s %(levelname)s %(name)s] %(message)s",
        datefmt="%Y-%m-%d:%H:%M:%S",
    )
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _read_json(name, default):
    path = os.path.join(INPUT_CONFIG_DIR, name)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default
    except ValueError as e:
        raise ClientError("%s is not valid JSON: %s" % (path, e)) from e


def raw_hyperparameters():
    """hyperparameters.json as written: every value is a string."""
    return _read_json("hyperparameters.json", {})


def hyperparameters():
    """hyperparameters.json with each value JSON-decoded where it parses, as the toolkit does
    (the SDK JSON-encodes framework hyperparameters: "sagemaker_program": "\\"train.py\\"")."""
    out = {}
    for key, value in raw_hyperparameters().items():
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def input_data_config():
    return _read_json("inputdataconfig.json", {})


def resource_config():
    rc = _read_json("resourceconfig.json", None)
    if not rc:
        host = os.environ.get("HOSTNAME") or "algo-1"
        rc = {"current_host": host, "hosts": [host]}
    return rc


def channel_dir(channel):
    return os.path.join(INPUT_DATA_DIR, channel)


def num_cpus():
    """CPUs this container may use: affinity, capped by a CFS quota (docker --cpus)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        try:
            with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
                quota = int(f.read())
            with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
                period = int(f.read())
            if quota > 0:
                count = min(count, max(1, math.ceil(quota / period)))
        except (OSError, ValueError):
            pass
    return count


def num_gpus():
    """GPUs handed to this container (sagebox sets SM_NUM_GPUS / NVIDIA_VISIBLE_DEVICES)."""
    if os.environ.get("SM_NUM_GPUS", "").isdigit():
        return int(os.environ["SM_NUM_GPUS"])
    visible = os.environ.get("NVIDIA_VISIBLE_DEVICES", "")
    if visible and visible not in ("void", "none"):
        if visible == "all":
            try:
                return len([d for d in os.listdir("/dev") if d[len("nvidia"):].isdigit() and d.startswith("nvidia")])
            except OSError:
                return 0
        return len([d for d in visible.split(",") if d.strip()])
    return 0


def split_hyperparameters(hps):
    """(framework parameters, user hyperparameters): sagemaker_* keys are the framework's."""
    framework = {k: v for k, v in hps.items() if k in SAGEMAKER_HYPERPARAMETERS or k.startswith("sagemaker_")}
    user = {k: v for k, v in hps.items() if k not in framework}
    return framework, user


def to_cmd_args(hps):
    """`--name value` pairs in key order, as the toolkit builds a script's arguments."""
    args = []
    for key in sorted(hps):
        value = hps[key]
        args.append(("--%s" if len(key) > 1 else "-%s") % key)
        if isinstance(value, dict):
            args.append(",".join("%s=%s" % (k, v) for k, v in sorted(value.items())))
        elif value is None:
            args.append("")
        else:
            args.append(str(value))
    return args


def _env_value(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def module_name(program):
    if program and program.endswith(".py"):
        return program[:-3]
    return program


def training_env(hps=None, program=None, module_dir=None):
    """The toolkit's Environment as a dict (SM_TRAINING_ENV), keyed like the toolkit's properties."""
    hps = hyperparameters() if hps is None else hps
    framework, user = split_hyperparameters(hps)
    rc = resource_config()
    idc = input_data_config()
    program = program or os.environ.get("SAGEMAKER_PROGRAM") or framework.get("sagemaker_program")
    module_dir = module_dir or framework.get("sagemaker_submit_directory") or CODE_DIR
    hosts = rc.get("hosts") or [rc.get("current_host", "algo-1")]
    current = rc.get("current_host", hosts[0])
    job_name = os.environ.get("TRAINING_JOB_NAME") or framework.get("sagemaker_job_name")
    current_group = rc.get("current_group_name", "homogeneousCluster")
    groups = rc.get("instance_groups") or []
    groups_dict = {g["instance_group_name"]: g for g in groups}
    # The toolkit: a distribution strategy turns the current group into a distribution group
    # unless the SDK names the groups (heterogeneous clusters).
    distribution_groups = framework.get("sagemaker_distribution_instance_groups")
    if distribution_groups is None:
        distribution_groups = [current_group] if any(framework.get(k) for k in DISTRIBUTION_FLAGS) else []
    if groups:
        distribution_hosts = [h for g in groups if g["instance_group_name"] in distribution_groups for h in g["hosts"]]
    else:
        distribution_hosts = list(hosts)
    current_group_hosts = groups_dict.get(current_group, {}).get("hosts", hosts)
    return {
        "additional_framework_parameters": {
            k: v for k, v in framework.items() if k not in SAGEMAKER_HYPERPARAMETERS
        },
        "channel_input_dirs": {c: channel_dir(c) for c in idc},
        "current_host": current,
        "current_instance_group": current_group,
        "current_instance_group_hosts": current_group_hosts,
        "current_instance_type": rc.get("current_instance_type", "local"),
        "distribution_hosts": distribution_hosts,
        "distribution_instance_groups": distribution_groups,
        "framework_module": os.environ.get("SAGEMAKER_TRAINING_MODULE"),
        "hosts": hosts,
        "hyperparameters": user,
        "input_config_dir": INPUT_CONFIG_DIR,
        "input_data_config": idc,
        "input_dir": INPUT_DIR,
        "instance_groups": [g["instance_group_name"] for g in groups],
        "instance_groups_dict": groups_dict,
        "is_hetero": len(groups) > 1,
        "is_master": current == hosts[0],
        "is_modelparallel_enabled": None,
        "is_smddpmprun_installed": False,
        "is_smddprun_installed": False,
        "job_name": job_name,
        "log_level": framework.get("sagemaker_container_log_level", logging.INFO),
        "master_hostname": hosts[0],
        "model_dir": MODEL_DIR,
        "module_dir": module_dir,
        "module_name": module_name(program),
        "network_interface_name": rc.get("network_interface_name", "eth0"),
        "num_cpus": num_cpus(),
        "num_gpus": num_gpus(),
        "num_neurons": 0,
        "output_data_dir": OUTPUT_DATA_DIR,
        "output_dir": OUTPUT_DIR,
        "output_intermediate_dir": OUTPUT_INTERMEDIATE_DIR,
        "resource_config": rc,
        "user_entry_point": program,
    }


def sm_env_vars(env):
    """The SM_* variables the toolkit exports for a user script, from `training_env()`."""
    user_hps = env["hyperparameters"]
    plain = {
        "hosts": env["hosts"],
        "network_interface_name": env["network_interface_name"],
        "hps": user_hps,
        "user_entry_point": env["user_entry_point"],
        "framework_params": env["additional_framework_parameters"],
        "resource_config": env["resource_config"],
        "input_data_config": env["input_data_config"],
        "output_data_dir": env["output_data_dir"],
        "channels": sorted(env["channel_input_dirs"]),
        "current_host": env["current_host"],
        "current_instance_type": env["current_instance_type"],
        "current_instance_group": env["current_instance_group"],
        "current_instance_group_hosts": env["current_instance_group_hosts"],
        "instance_groups": env["instance_groups"],
        "instance_groups_dict": env["instance_groups_dict"],
        "distribution_instance_groups": env["distribution_instance_groups"],
        "is_hetero": env["is_hetero"],
        "module_name": env["module_name"],
        "log_level": env["log_level"],
        "framework_module": env["framework_module"],
        "input_dir": env["input_dir"],
        "input_config_dir": env["input_config_dir"],
        "output_dir": env["output_dir"],
        "num_cpus": env["num_cpus"],
        "num_gpus": env["num_gpus"],
        "num_neurons": env["num_neurons"],
        "model_dir": env["model_dir"],
        "module_dir": env["module_dir"],
        "training_env": env,
        "user_args": to_cmd_args(user_hps),
        "output_intermediate_dir": env["output_intermediate_dir"],
    }
    for name, path in env["channel_input_dirs"].items():
        plain["channel_%s" % name] = path
    for key, value in user_hps.items():
        plain["hp_%s" % key] = value
    return {"SM_%s" % k.upper(): _env_value(v) for k, v in plain.items()}


def write_failure(message):
    """Write /opt/ml/output/failure; SageMaker reports its first 1024 characters as FailureReason."""
    try:
        os.makedirs(OUTPUT_DIR, exist_ok=True)
        with open(FAILURE_FILE, "w") as f:
            f.write(message)
    except OSError:
        logging.exception("could not write %s", FAILURE_FILE)


def run_training(main):
    """Run `main()` as the `train` command: failures become /opt/ml/output/failure + exit 1.

    ClientError (bad hyperparameters or data) is reported as "ClientError: ...", anything else as
    "AlgorithmError: ..." with the traceback in the log, matching the built-in algorithms' wording.
    """
    setup_logging()
    try:
        main()
    except ClientError as e:
        logging.error("ClientError: %s", e)
        write_failure("ClientError: %s" % e)
        sys.exit(1)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - everything must end up in the failure file
        traceback.print_exc()
        write_failure("AlgorithmError: %s: %s" % (type(e).__name__, e))
        sys.exit(1)
    sys.exit(0)
