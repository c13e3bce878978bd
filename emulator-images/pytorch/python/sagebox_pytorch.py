"""SageMaker PyTorch script mode: `train` runs the user's entry point as the PyTorch training
toolkit does, `serve` hosts the user's module with the PyTorch inference toolkit's default handlers.

Training (sagemaker_pytorch_container.training): wait until every host's name resolves; export
MASTER_ADDR (the first host) and MASTER_PORT=7777 and the NCCL settings; with
`distribution={"torch_distributed": {"enabled": True}}` (hyperparameter
sagemaker_torch_distributed_enabled) run the entry point under torchrun on every host:
`python -m torch.distributed.run --nnodes N --nproc_per_node P [--master_addr algo-1 --master_port
7777 --node_rank I] train.py ARGS`, P being the GPUs torch sees (1 without) or
sagemaker_mpi_num_of_processes_per_host. `{"pytorchddp": {"enabled": True}}` (sagemaker_pytorch_ddp_enabled, or
sagemaker_distributed_dataparallel_enabled from newer SDKs) launches the same way (SageMaker runs it
with smddprun and the smddp backend, which exist only on AWS' GPU images). Scripts pick the backend:
gloo on CPU, nccl on GPUs.

Defaults (used where the user's module does not define the function), as
sagemaker_pytorch_serving_container.default_pytorch_inference_handler:
- model_fn: TorchScript model.pt in the model dir, else the only *.pt / *.pth file there,
  loaded with torch.jit.load onto cuda when available, else cpu.
- input_fn: application/json, text/csv, application/x-npy → torch tensor (float32 for text
  formats) on the device.
- predict_fn: model.eval(); model(data) under torch.no_grad() on the device.
- output_fn: tensor → list, encoded as JSON, CSV or NPY per Accept (first supported type).
"""
import logging
import os
import socket
import sys
import time

from sagebox_container import codecs, environment, scriptmode

log = logging.getLogger("sagebox.pytorch")

DEFAULT_MODEL_FILENAME = "model.pt"
SUPPORTED_ACCEPT = (codecs.JSON, codecs.CSV, codecs.NPY)


class ModelLoadError(Exception):
    pass


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _is_model_file(path):
    return os.path.isfile(path) and os.path.splitext(path)[1] in (".pt", ".pth")


def default_model_fn(model_dir):
    import torch

    device = _device()
    model_path = os.path.join(model_dir, DEFAULT_MODEL_FILENAME)
    if not os.path.exists(model_path):
        model_files = sorted(f for f in os.listdir(model_dir) if _is_model_file(os.path.join(model_dir, f)))
        if len(model_files) != 1:
            raise ValueError("Exactly one .pth or .pt file is required for PyTorch models: {}".format(model_files))
        model_path = os.path.join(model_dir, model_files[0])
    try:
        model = torch.jit.load(model_path, map_location=device)
    except RuntimeError as e:
        raise ModelLoadError(
            "Failed to load {}. Please ensure model is saved using torchscript.".format(model_path)
        ) from e
    return model.to(device)


def default_input_fn(input_data, content_type):
    import torch

    array = codecs.decode_default(input_data, content_type)
    media, _ = codecs.parse_content_type(content_type, codecs.JSON)
    if media in scriptmode.UTF8_TYPES:
        tensor = torch.FloatTensor(array)
    else:
        tensor = torch.from_numpy(array)
    return tensor.to(_device())


def default_predict_fn(data, model):
    import torch

    device = _device()
    with torch.no_grad():
        model = model.to(device)
        data = data.to(device)
        model.eval()
        return model(data)


def default_output_fn(prediction, accept):
    import torch

    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy().tolist()
    media = codecs.parse_accept(accept, SUPPORTED_ACCEPT, codecs.JSON)
    return codecs.encode_default(prediction, media), media


class Handler(scriptmode.UserModuleHandler):
    defaults = "sagebox_pytorch"


MASTER_PORT = "7777"
# torch_distributed; pytorchddp (older SDKs send sagemaker_pytorch_ddp_enabled, newer ones turn it
# into SageMaker's data parallel library: sagemaker_distributed_dataparallel_enabled)
DISTRIBUTED_FLAGS = (
    "sagemaker_torch_distributed_enabled",
    "sagemaker_pytorch_ddp_enabled",
    "sagemaker_distributed_dataparallel_enabled",
)
PROCESSES_PER_HOST = "sagemaker_mpi_num_of_processes_per_host"
DNS_TIMEOUT_S = 120


def _wait_for_hosts(hosts):
    """Block until every host's name resolves (the toolkit's _dns_lookup, with a shorter limit)."""
    deadline = time.monotonic() + DNS_TIMEOUT_S
    for host in hosts:
        while True:
            try:
                socket.gethostbyname(host)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise environment.ClientError("host %s did not resolve within %d s" % (host, DNS_TIMEOUT_S))
                time.sleep(0.5)


def _pin_hosts(hosts, path="/etc/hosts"):
    """Write every host's address into /etc/hosts. c10d looks up the name of each peer's address
    (getnameinfo); on a job network without outside DNS each reverse lookup waits ~20 s for a
    timeout, while /etc/hosts answers at once."""
    try:
        with open(path) as f:
            known = f.read()
        lines = []
        for host in hosts:
            addr = socket.gethostbyname(host)
            if not any(line.split()[:1] == [addr] for line in known.splitlines()):
                lines.append("%s\t%s\n" % (addr, host))
        if lines:
            with open(path, "a") as f:
                f.writelines(lines)
    except OSError as e:
        log.warning("could not add the hosts to %s: %s", path, e)


def visible_gpus():
    """GPUs torch can use in this container (0 with a CPU build of torch)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken CUDA setup counts as none
        return 0


def launcher(tenv, framework, cmd, env):
    """The PyTorch training toolkit's setup, and torchrun when a distribution asks for it."""
    gpus = visible_gpus()
    tenv["num_gpus"] = gpus
    env["SM_NUM_GPUS"] = str(gpus)
    hosts = tenv["hosts"]
    if len(hosts) > 1:
        _wait_for_hosts(hosts)
        _pin_hosts(hosts)
    env["MASTER_ADDR"] = tenv["master_hostname"]
    env["MASTER_PORT"] = MASTER_PORT
    env["NCCL_SOCKET_IFNAME"] = str(tenv["network_interface_name"])
    env["NCCL_IB_DISABLE"] = "1"
    env.setdefault("NCCL_DEBUG", "WARN")
    try:
        import torch

        env["SM_DLC_TORCH_VERSION"] = torch.__version__
    except Exception:  # noqa: BLE001
        pass
    flag = next((f for f in DISTRIBUTED_FLAGS if framework.get(f)), None)
    if not flag or tenv["current_instance_group"] not in tenv["distribution_instance_groups"]:
        return cmd
    if cmd[:1] != [sys.executable] or not cmd[1].endswith(".py"):
        raise environment.ClientError(
            "Python packages are not supported for torch_distributed. Please use a python script as the entry-point"
        )
    per_host = framework.get(PROCESSES_PER_HOST) or (gpus if gpus > 0 else 1)
    dist_hosts = tenv["distribution_hosts"] or hosts
    run = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(len(dist_hosts)),
           "--nproc_per_node", str(per_host)]
    if len(dist_hosts) > 1:
        run += ["--master_addr", str(tenv["master_hostname"]), "--master_port", MASTER_PORT,
                "--node_rank", str(dist_hosts.index(tenv["current_host"]))]
    if flag != "sagemaker_torch_distributed_enabled":
        log.info("%s: launching with torchrun (SageMaker's smddprun and its smddp backend exist only on AWS' "
                 "GPU images; use init_process_group with gloo on CPU or nccl on GPUs)", flag)
    log.info("starting distributed training through torchrun on %d host(s), %s process(es) each", len(dist_hosts), per_host)
    return run + cmd[1:]


def train():
    scriptmode.train_main(launcher)


def serve():
    scriptmode.serve_main("sagebox_pytorch:Handler")
