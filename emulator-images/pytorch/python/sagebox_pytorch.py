"""SageMaker PyTorch script mode: `train` runs the user's entry point as the PyTorch training
toolkit does (torchrun for `torch_distributed`), `serve` hosts the user's module with the PyTorch
inference toolkit's default handlers.

Defaults (used where the user's module does not define the function), as
sagemaker_pytorch_serving_container.default_pytorch_inference_handler:
- model_fn: TorchScript model.pt in the model dir, else the only *.pt / *.pth file there,
  loaded with torch.jit.load onto cuda when available, else cpu.
- input_fn: application/json, text/csv, application/x-npy → torch tensor (float32 for text
  formats) on the device.
- predict_fn: model.eval(); model(data) under torch.no_grad() on the device.
- output_fn: tensor → list, encoded as JSON, CSV or NPY per Accept (first supported type).
"""
import os

from sagebox_container import codecs, scriptmode

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


def train():
    scriptmode.train_main()


def serve():
    scriptmode.serve_main("sagebox_pytorch:Handler")
