"""SageMaker Hugging Face (PyTorch) training and inference, offline.

`train` is the pytorch image's script mode (the Hugging Face training containers run the PyTorch
training toolkit), plus one thing: when the script failed because a model was not in the offline
Hugging Face cache (see sagebox_hf_offline), the FailureReason starts with what to do about it.

`serve` is sagemaker-huggingface-inference-toolkit's handler service on sagebox's model server
(gunicorn + Flask, /ping and /invocations on :8080):
- the model is /opt/ml/model, or with HF_MODEL_ID (and HF_MODEL_REVISION) the snapshot of that
  repository in the mounted Hugging Face cache; never a download;
- default model_fn: a transformers `pipeline` for HF_TASK, else the task inferred from config.json's
  architecture (…ForSequenceClassification → text-classification, …), with the tokenizer (or the
  feature extractor, for vision and audio tasks) from the model directory; on a GPU when one is there;
- default input_fn: JSON, CSV (with an `inputs` or question/context header), NPY, images (PIL) and
  audio (bytes) into a dict; predict_fn: `pipeline(data["inputs"], **data["parameters"])`;
  output_fn: JSON (numpy values made plain), CSV, NPY or an image, per Accept (JSON by default);
- code/inference.py in the model (or SAGEMAKER_PROGRAM, from SAGEMAKER_SUBMIT_DIRECTORY) may define
  model_fn, input_fn, predict_fn, output_fn or transform_fn, each with an optional last `context`
  argument, as the toolkit calls them; transform_fn cannot be combined with the other three;
- every error of a request answers 400 with its message, as the toolkit's PredictionException does.
A model that is not in the cache stops the server before it answers /ping, with the explanation as
its last log line, so the endpoint fails with it instead of waiting out the health check.
"""
import base64
import csv
import datetime
import importlib
import importlib.util
import inspect
import io
import json
import logging
import os
import sys
import time

import sagebox_hf_offline as offline
from sagebox_container import codecs, environment, scriptmode, server

log = logging.getLogger("sagebox.huggingface")

MISSING_FILE = "/tmp/sagebox-hf-missing"
HANDLER = "sagebox_huggingface:Handler"

# content types (sagemaker_huggingface_inference_toolkit.content_types)
JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
ANY = "*/*"
UTF8_TYPES = (JSON, CSV)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/tiff", "image/bmp", "image/gif", "image/webp", "image/x-image")
AUDIO_TYPES = ("audio/x-flac", "audio/mpeg", "audio/wave", "audio/ogg", "audio/x-audio")

ARCHITECTURES_2_TASK = {
    "TapasForQuestionAnswering": "table-question-answering",
    "ForQuestionAnswering": "question-answering",
    "ForTokenClassification": "token-classification",
    "ForSequenceClassification": "text-classification",
    "ForMultipleChoice": "multiple-choice",
    "ForMaskedLM": "fill-mask",
    "ForCausalLM": "text-generation",
    "ForConditionalGeneration": "text2text-generation",
    "MTModel": "text2text-generation",
    "EncoderDecoderModel": "text2text-generation",
    "GPT2LMHeadModel": "text-generation",
    "T5WithLMHeadModel": "text2text-generation",
}
FEATURE_EXTRACTOR_TASKS = {
    "automatic-speech-recognition",
    "image-segmentation",
    "image-classification",
    "audio-classification",
    "object-detection",
    "zero-shot-image-classification",
}


def _truthy(value):
    return str(value).strip().lower() in ("y", "yes", "t", "true", "on", "1")


def _reset_missing_file():
    os.environ[offline.MISSING_FILE_ENV] = MISSING_FILE
    try:
        os.remove(MISSING_FILE)
    except OSError:
        pass


def _missing_report():
    try:
        with open(MISSING_FILE) as f:
            return f.read().strip() or None
    except OSError:
        return None


# ---------------------------------------------------------------- training

def _parent_train():
    try:
        import sagebox_pytorch
    except ImportError:
        scriptmode.train_main()
    else:
        sagebox_pytorch.train()


def _explain_failure():
    """Put the offline-cache explanation (if the script left one) at the head of the failure file,
    whose first 1024 characters become the FailureReason."""
    text = _missing_report()
    if not text:
        return
    try:
        with open(environment.FAILURE_FILE) as f:
            previous = f.read()
    except OSError:
        previous = ""
    prefix = "AlgorithmError: ExecuteUserScriptError:"
    if previous.startswith(prefix):
        previous = previous[len(prefix):].lstrip("\n")
    environment.write_failure("%s %s\n%s" % (prefix, text, previous))


def train():
    _reset_missing_file()
    try:
        _parent_train()
    except SystemExit as e:
        if e.code not in (0, None):
            _explain_failure()
        raise


# ---------------------------------------------------------------- decoding and encoding

def decode_csv(string_like):
    stream = io.StringIO(string_like)
    first = string_like.splitlines()[0].lower() if string_like else ""
    if not any(header in first for header in ("question", "context", "inputs")):
        raise ValueError(
            "You need to provide the correct CSV with Header columns to use it with the inference toolkit default handler."
        )
    rows = list(csv.DictReader(stream))
    if rows and "inputs" in rows[0]:
        return {"inputs": [row["inputs"] for row in rows]}
    return {"inputs": rows}


def decode(content, content_type=JSON):
    media, _ = codecs.parse_content_type(content_type, JSON)
    if media == JSON:
        return json.loads(content)
    if media == CSV:
        return decode_csv(content)
    if media == NPY:
        import numpy as np

        return np.load(io.BytesIO(content), allow_pickle=False)
    if media in IMAGE_TYPES:
        from PIL import Image

        return {"inputs": Image.open(io.BytesIO(content)).convert("RGB")}
    if media in AUDIO_TYPES:
        return {"inputs": bytes(content)}
    raise ValueError("Content type %s is not supported by the Hugging Face inference toolkit" % content_type)


class _JSONEncoder(json.JSONEncoder):
    def default(self, obj):
        import numpy as np

        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return float(obj)
        if hasattr(obj, "tolist"):
            return obj.tolist()
        if isinstance(obj, datetime.datetime):
            return str(obj)
        if type(obj).__module__.startswith("PIL.") and hasattr(obj, "save"):
            with io.BytesIO() as out:
                obj.save(out, format="PNG")
                return base64.b64encode(out.getvalue()).decode("utf-8")
        return super().default(obj)


def encode_json(content, accept_type=None):
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, cls=_JSONEncoder, separators=(",", ":"))


def encode_csv(content, accept_type=None):
    stream = io.StringIO()
    if not isinstance(content, list):
        content = list(content)
    writer = csv.DictWriter(stream, content[0].keys())
    writer.writeheader()
    writer.writerows(content)
    return stream.getvalue()


def encode_npy(content, accept_type=None):
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, content)
    return buf.getvalue()


def encode_image(image, accept_type="image/png"):
    fmt = "PNG" if accept_type == "image/x-image" else accept_type.split("/")[-1].upper()
    with io.BytesIO() as out:
        image.save(out, format=fmt)
        return out.getvalue()


def encode(content, accept_type=JSON):
    media, _ = codecs.parse_content_type(accept_type, JSON)
    if media == JSON:
        return encode_json(content)
    if media == CSV:
        return encode_csv(content)
    if media == NPY:
        return encode_npy(content)
    if media in IMAGE_TYPES:
        return encode_image(content, media)
    raise ValueError("Accept type %s is not supported by the Hugging Face inference toolkit" % accept_type)


# ---------------------------------------------------------------- the model

def infer_task_from_model_architecture(config_path):
    with open(config_path) as f:
        architecture = (json.load(f).get("architectures") or [None])[0]
    task = None
    for suffix, candidate in ARCHITECTURES_2_TASK.items():
        if architecture and architecture.endswith(suffix):
            task = candidate
    if task is None:
        raise ValueError(
            "Task couldn't be inferenced from %s. Inference Toolkit can only inference tasks from architectures "
            "ending with %s. Use env `HF_TASK` to define your task." % (architecture, list(ARCHITECTURES_2_TASK))
        )
    os.environ["HF_TASK"] = task
    return task


def device():
    try:
        import torch

        return 0 if torch.cuda.is_available() else -1
    except ImportError:
        return -1


def get_pipeline(task, device, model_dir, **kwargs):
    from transformers import pipeline

    if not task:
        raise EnvironmentError("The task for this model is not set: set the environment variable HF_TASK")
    if task in FEATURE_EXTRACTOR_TASKS:
        kwargs["feature_extractor"] = model_dir
    else:
        kwargs["tokenizer"] = model_dir
    trust = _truthy(os.environ.get("HF_TRUST_REMOTE_CODE", "false"))
    return pipeline(task=task, model=model_dir, device=device, trust_remote_code=trust, **kwargs)


def default_model_fn(model_dir, context=None):
    """The toolkit's `load`: a pipeline for HF_TASK, or for the task of config.json's architecture."""
    dev = context.device if context is not None else device()
    files = os.listdir(model_dir) if os.path.isdir(model_dir) else []
    if os.environ.get("HF_TASK"):
        return get_pipeline(os.environ["HF_TASK"], dev, model_dir)
    if "config.json" in files:
        task = infer_task_from_model_architecture(os.path.join(model_dir, "config.json"))
        return get_pipeline(task, dev, model_dir)
    if "model_index.json" in files:
        return get_pipeline("text-to-image", dev, model_dir)
    from transformers.pipelines import SUPPORTED_TASKS

    raise ValueError(
        "You need to define one of the following %s or text-to-image as env 'HF_TASK'." % list(SUPPORTED_TASKS)
    )


def default_input_fn(input_data, content_type, context=None):
    if os.environ.get("HF_TASK") in ("zero-shot-classification", "table-question-answering"):
        if codecs.parse_content_type(content_type, JSON)[0] == CSV:
            raise ValueError(
                "content type %s not support with %s, use different content_type" % (content_type, os.environ["HF_TASK"])
            )
    return decode(input_data, content_type)


def default_predict_fn(data, model, context=None):
    if isinstance(data, dict):
        inputs = data.pop("inputs", data)
        parameters = data.pop("parameters", None)
    else:
        inputs, parameters = data, None
    if parameters is not None:
        return model(inputs, **parameters)
    return model(inputs)


def default_output_fn(prediction, accept, context=None):
    return encode(prediction, accept)


class Context:
    """What the toolkit's MMS context offers user functions that take one."""

    def __init__(self, model_dir):
        self.device = device()
        self.system_properties = {
            "model_dir": model_dir,
            "gpu_id": max(self.device, 0),
            "batch_size": 1,
        }


def _with_context(default, fn, context):
    """Call `fn` like the toolkit does: with the context when it takes as many arguments as the
    default (context included), without it when it takes one fewer."""
    expected = len(inspect.signature(default).parameters)
    given = len(inspect.signature(fn).parameters)
    if given == expected:
        return lambda *args: fn(*args, context)
    if given == expected - 1:
        return fn
    raise TypeError(
        "%s definition takes %d or %d arguments but %d were given." % (fn.__name__, expected - 1, expected, given)
    )


class Handler:
    """sagebox_container.server's handler: the toolkit's HuggingFaceHandlerService."""

    def load(self):
        self.model_dir = os.environ.get("SAGEBOX_HF_MODEL_DIR") or environment.MODEL_DIR
        self.context = Context(self.model_dir)
        code_dir = os.environ.get("SAGEBOX_USER_CODE_DIR") or os.path.join(environment.MODEL_DIR, "code")
        name = environment.module_name(os.environ.get("SAGEMAKER_PROGRAM") or "inference.py")
        if os.path.isdir(code_dir) and code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        module = None
        if importlib.util.find_spec(name) is not None:
            module = importlib.import_module(name)
            log.info("Inference script implementation found at `%s`.", name)
        fns = {n: getattr(module, n, None) for n in ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")}
        if fns["transform_fn"] and (fns["input_fn"] or fns["predict_fn"] or fns["output_fn"]):
            raise ValueError(
                "Cannot use transform_fn implementation in conjunction with input_fn, predict_fn, and/or output_fn implementation"
            )
        defaults = {
            "model_fn": default_model_fn,
            "input_fn": default_input_fn,
            "predict_fn": default_predict_fn,
            "output_fn": default_output_fn,
        }
        for n, default in defaults.items():
            fn = fns[n]
            if fn is not None:
                log.info("`%s` implementation found. It will be used in place of the default one.", n)
            setattr(self, n, _with_context(default, fn or default, self.context))
        self.transform_fn = None
        if fns["transform_fn"]:
            self.transform_fn = _with_context(self._default_transform_fn, fns["transform_fn"], self.context)
        try:
            self.model = self.model_fn(self.model_dir)
        except Exception as e:
            if offline.is_missing_from_cache(e):
                # The model can never load here: stop the server (gunicorn halts when a worker fails
                # to boot, code 3) and let `serve` end with the explanation.
                offline.report(e)
                raise SystemExit(3) from e
            raise

    @staticmethod
    def _default_transform_fn(model, input_data, content_type, accept, context=None):
        raise NotImplementedError  # only its signature is used

    def invoke(self, body, content_type, accept):
        if not accept or accept.strip() == ANY:
            accept = JSON
        content_type = content_type or JSON
        media, _ = codecs.parse_content_type(content_type, JSON)
        data = body.decode("utf-8") if media in UTF8_TYPES else body
        try:
            start = time.time()
            if self.transform_fn:
                response = self.transform_fn(self.model, data, content_type, accept)
            else:
                response = self.output_fn(self.predict_fn(self.input_fn(data, content_type), self.model), accept)
            log.debug("transform took %.1f ms", (time.time() - start) * 1000)
        except Exception as e:  # noqa: BLE001 - the toolkit answers every failure with 400
            log.exception("prediction failed")
            raise server.BadRequest(str(e)) from e
        return response, accept


# ---------------------------------------------------------------- serving

def _resolve_hub_model():
    """With HF_MODEL_ID, the model is that repository's snapshot in the mounted cache (the toolkit
    downloads it at start; here the cache is all there is)."""
    model_id = os.environ.get("HF_MODEL_ID")
    if not model_id:
        return
    from huggingface_hub import snapshot_download

    path = snapshot_download(model_id, revision=os.environ.get("HF_MODEL_REVISION") or None, local_files_only=True)
    log.info("HF_MODEL_ID %s: the cached snapshot %s", model_id, path)
    os.environ["SAGEBOX_HF_MODEL_DIR"] = path


def _fail(text):
    print(text, file=sys.stderr, flush=True)
    sys.exit(1)


def serve():
    environment.setup_logging()
    _reset_missing_file()
    try:
        _resolve_hub_model()
        _, code_dir = scriptmode.prepare_serving()
        if not os.environ.get("SAGEMAKER_PROGRAM") and os.path.isfile(os.path.join(code_dir, "requirements.txt")):
            scriptmode.install_requirements(code_dir)
    except Exception as e:
        if offline.is_missing_from_cache(e):
            _fail(offline.message(offline.repo_id(e)))
        raise
    # Imported once here (seconds of torch and transformers) and inherited by every forked worker.
    import transformers.pipelines  # noqa: F401

    master = os.getpid()
    try:
        server.serve(HANDLER)
    except SystemExit:
        # Workers are forked from here: only the master (gunicorn halted) explains and exits.
        text = _missing_report() if os.getpid() == master else None
        if text:
            _fail(text)
        raise
