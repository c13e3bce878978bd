"""The Hugging Face estimator and model of the SageMaker SDK v2 against sagebox, offline.

A tiny BERT (2 layers, hidden size 32, random weights, a word-level vocabulary built here) is made
inside sagebox's Hugging Face image, so no hub is reached anywhere. It is fine-tuned by script mode
(`sagemaker.huggingface.HuggingFace`, transformers' Trainer on a `datasets.Dataset`) from an S3
training channel, and the result is served by `HuggingFaceModel` with HF_TASK; the endpoint must
answer exactly what the pipeline answered inside the training job. The private sagebox here has a
Hugging Face cache (HF_HUB_CACHE) holding the tiny model as `sagebox-test/tiny-bert`: an endpoint
serves it by HF_MODEL_ID with a custom inference.py (code/ in model.tar.gz), and a model that is not
cached fails the job (and the endpoint) with a FailureReason that says so and how to fix it.

Hugging Face training images exist only for GPU instances (the SDK refuses CPU ones), so this
server runs with --gpu-fallback cpu and the jobs ask for ml.g4dn.xlarge.
"""

import io
import json
import os
import shutil
import subprocess
import tarfile
import textwrap

import pytest

from support import docker_answers, sagebox_binary, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
TRAIN_VERSIONS = dict(transformers_version="4.49.0", pytorch_version="2.5.1", py_version="py311")
SERVE_VERSIONS = dict(transformers_version="4.49.0", pytorch_version="2.6.0", py_version="py312")
GPU_INSTANCE = "ml.g4dn.xlarge"
CACHED_MODEL = "sagebox-test/tiny-bert"
SENTENCES = [
    ("a great movie", 1), ("loved the acting", 1), ("good plot", 1), ("the film was fine", 1),
    ("a terrible movie", 0), ("hated the acting", 0), ("bad plot", 0), ("the film was awful", 0),
]

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")

MAKE_TINY_MODEL = """
import os, sys
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

out = sys.argv[1]
words = "a the movie film was great good fine loved terrible bad awful hated acting plot it".split()
with open("/tmp/vocab.txt", "w") as f:
    f.write("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\\n")
tokenizer = BertTokenizerFast(vocab_file="/tmp/vocab.txt")
config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=64, max_position_embeddings=32,
                    num_labels=2, id2label={0: "negative", 1: "positive"},
                    label2id={"negative": 0, "positive": 1})
torch.manual_seed(0)
BertForSequenceClassification(config).save_pretrained(out)
tokenizer.save_pretrained(out)
"""

TRAIN_PY = """
import argparse, json, os
import datasets
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, Trainer,
                          TrainingArguments, pipeline)

p = argparse.ArgumentParser()
p.add_argument("--max_steps", type=int)
p.add_argument("--learning_rate", type=float)
args = p.parse_args()
base, data = os.environ["SM_CHANNEL_MODEL"], os.environ["SM_CHANNEL_TRAIN"]
tokenizer = AutoTokenizer.from_pretrained(base)
model = AutoModelForSequenceClassification.from_pretrained(base)
rows = [json.loads(line) for line in open(os.path.join(data, "train.jsonl"))]
ds = datasets.Dataset.from_list(rows).map(
    lambda b: tokenizer(b["text"], padding="max_length", max_length=8, truncation=True), batched=True)
trainer = Trainer(model=model, train_dataset=ds,
                  args=TrainingArguments(output_dir="/tmp/out", max_steps=args.max_steps,
                                         learning_rate=args.learning_rate, per_device_train_batch_size=4,
                                         report_to=[], save_strategy="no", logging_steps=1, seed=0))
result = trainer.train()
print("train_loss=%.4f steps=%d" % (result.training_loss, result.global_step))
trainer.save_model(os.environ["SM_MODEL_DIR"])
tokenizer.save_pretrained(os.environ["SM_MODEL_DIR"])
clf = pipeline("text-classification", model=os.environ["SM_MODEL_DIR"])
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "expected.json"), "w") as f:
    json.dump({"steps": result.global_step, "prediction": clf("a great movie")}, f)
"""

MISSING_PY = """
from transformers import AutoModel, AutoTokenizer
AutoTokenizer.from_pretrained("%s")  # in the mounted cache
print("cached model loaded")
AutoModel.from_pretrained("some/missing-model")
""" % CACHED_MODEL

INFERENCE_PY = """
import os
from transformers import AutoModelForSequenceClassification, AutoTokenizer

def model_fn(model_dir, context=None):
    name = os.environ["HF_MODEL_ID"]
    return AutoTokenizer.from_pretrained(name), AutoModelForSequenceClassification.from_pretrained(name)

def predict_fn(data, model):
    tokenizer, net = model
    ids = tokenizer(data["inputs"])["input_ids"]
    return {"model": os.environ["HF_MODEL_ID"], "input_ids": ids, "labels": net.config.num_labels}
"""


@pytest.fixture(scope="module")
def image():
    """sagebox's Hugging Face image (built here on first use)."""
    proc = subprocess.run([str(sagebox_binary()), "images", "build", "huggingface"], capture_output=True,
                          text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.split()[1]


@pytest.fixture(scope="module")
def tiny_model(image, tmp_path_factory):
    """The tiny BERT, made and saved with save_pretrained inside the image (no hub)."""
    work = tmp_path_factory.mktemp("hf-tiny")
    (work / "make.py").write_text(MAKE_TINY_MODEL)
    proc = subprocess.run(["docker", "run", "--rm", "-v", "%s:/work" % work, image,
                           "python3", "/work/make.py", "/work/model"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = work / "model"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(os.listdir(model))
    return model


@pytest.fixture(scope="module")
def hub_cache(tiny_model, tmp_path_factory):
    """A Hugging Face hub cache (the layout huggingface_hub writes) holding the tiny model."""
    hub = tmp_path_factory.mktemp("hf-home") / "hub"
    repo = hub / ("models--" + CACHED_MODEL.replace("/", "--"))
    revision = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_model, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return hub


@pytest.fixture(scope="module")
def sagebox(request, hub_cache, tmp_path_factory):
    """A private server that runs GPU instance types on CPU and mounts `hub_cache`."""
    from sagebox.pytest_plugin import Servers

    servers = Servers(request.config, tmp_path_factory)
    saved = os.environ.get("HF_HUB_CACHE")
    os.environ["HF_HUB_CACHE"] = str(hub_cache)
    try:
        server = servers.start("sagebox-hf", ("--gpu-fallback", "cpu"))
    finally:
        if saved is None:
            os.environ.pop("HF_HUB_CACHE")
        else:
            os.environ["HF_HUB_CACHE"] = saved
    yield server
    servers.end()


@pytest.fixture(scope="module")
def channels(s3, bucket, tiny_model):
    for f in os.listdir(tiny_model):
        s3.upload_file(str(tiny_model / f), bucket, "hf/base-model/" + f)
    body = "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in SENTENCES)
    s3.put_object(Bucket=bucket, Key="hf/train/train.jsonl", Body=body.encode())
    return {"model": "s3://%s/hf/base-model/" % bucket, "train": "s3://%s/hf/train/" % bucket}


def source_dir(tmp_path, name, text):
    d = tmp_path / "src"
    d.mkdir(exist_ok=True)
    (d / name).write_text(textwrap.dedent(text))
    return str(d)


def output_file(s3, bucket, desc, name):
    key = desc["ModelArtifacts"]["S3ModelArtifacts"].split("/", 3)[3].replace("model.tar.gz", "output.tar.gz")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        return json.load(t.extractfile(name))


def test_fine_tune_by_script_mode_then_serve_with_hf_task(sdk_session, s3, bucket, channels, tmp_path):
    from sagemaker.huggingface import HuggingFace, HuggingFaceModel

    est = HuggingFace(entry_point="train.py", source_dir=source_dir(tmp_path, "train.py", TRAIN_PY),
                      role=ROLE, instance_count=1, instance_type=GPU_INSTANCE, sagemaker_session=sdk_session,
                      output_path="s3://%s/hf/output" % bucket, code_location="s3://%s/hf/code" % bucket,
                      hyperparameters={"max_steps": 4, "learning_rate": 0.01}, **TRAIN_VERSIONS)
    est.fit(channels, logs=True)
    desc = sdk_session.describe_training_job(est.latest_training_job.name)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    expected = output_file(s3, bucket, desc, "expected.json")
    assert expected["steps"] == 4
    [want] = expected["prediction"]
    assert want["label"] in ("negative", "positive")

    model = HuggingFaceModel(model_data=est.model_data, role=ROLE, sagemaker_session=sdk_session,
                             env={"HF_TASK": "text-classification", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
                             **SERVE_VERSIONS)
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge",
                             endpoint_name=unique("hf-ep"))
    try:
        [got] = predictor.predict({"inputs": "a great movie"})
        assert got["label"] == want["label"]
        assert got["score"] == pytest.approx(want["score"], abs=1e-5)
        # parameters go to the pipeline call: top_k=2 gives both labels for each input
        both = predictor.predict({"inputs": ["a great movie", "bad plot"], "parameters": {"top_k": 2}})
        assert [sorted(x["label"] for x in row) for row in both] == [["negative", "positive"]] * 2
        scores = {x["label"]: x["score"] for x in both[0]}
        assert scores[got["label"]] == pytest.approx(got["score"], abs=1e-5)
    finally:
        predictor.delete_endpoint()


def test_a_model_missing_from_the_cache_fails_the_job_saying_how_to_fix_it(sdk_session, hub_cache, bucket, tmp_path):
    from sagemaker.huggingface import HuggingFace

    est = HuggingFace(entry_point="missing.py", source_dir=source_dir(tmp_path, "missing.py", MISSING_PY),
                      role=ROLE, instance_count=1, instance_type=GPU_INSTANCE, sagemaker_session=sdk_session,
                      output_path="s3://%s/hf-missing/output" % bucket,
                      code_location="s3://%s/hf-missing/code" % bucket, **TRAIN_VERSIONS)
    with pytest.raises(Exception, match="Failed"):
        est.fit(logs=True)
    desc = sdk_session.describe_training_job(est.latest_training_job.name)
    assert desc["TrainingJobStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert reason.startswith(
        "AlgorithmError: ExecuteUserScriptError: sagebox: the Hugging Face model 'some/missing-model' is not in "
        "the Hugging Face cache sagebox mounted (%s on the host, read-only)" % hub_cache), reason
    assert "`huggingface-cli download some/missing-model`" in reason
    assert "ExitCode 1" in reason


def test_hf_model_id_serves_from_the_cache_with_a_custom_inference_py(sdk_session, s3, bucket, hub_cache):
    from sagemaker.huggingface import HuggingFaceModel

    # The model comes from the cache by HF_MODEL_ID; model.tar.gz holds only code/inference.py.
    code = INFERENCE_PY.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(code)
        t.addfile(info, io.BytesIO(code))
    s3.put_object(Bucket=bucket, Key="hf-id/model.tar.gz", Body=buf.getvalue())
    model = HuggingFaceModel(model_data="s3://%s/hf-id/model.tar.gz" % bucket, role=ROLE, sagemaker_session=sdk_session,
                             env={"HF_MODEL_ID": CACHED_MODEL, "SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
                             **SERVE_VERSIONS)
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge",
                             endpoint_name=unique("hf-id"))
    try:
        # [CLS]=2 a=5 great=10 movie=7 [SEP]=3 in the tiny vocabulary
        assert predictor.predict({"inputs": "a great movie"}) == {
            "model": CACHED_MODEL, "input_ids": [2, 5, 10, 7, 3], "labels": 2}
    finally:
        predictor.delete_endpoint()

    missing = HuggingFaceModel(role=ROLE, sagemaker_session=sdk_session,
                               env={"HF_MODEL_ID": "some/missing-model", "HF_TASK": "text-classification"},
                               **SERVE_VERSIONS)
    name = unique("hf-missing")
    with pytest.raises(Exception, match="Failed"):
        missing.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge", endpoint_name=name)
    reason = sdk_session.sagemaker_client.describe_endpoint(EndpointName=name)["FailureReason"]
    assert ("sagebox: the Hugging Face model 'some/missing-model' is not in the Hugging Face cache sagebox "
            "mounted (%s on the host, read-only)" % hub_cache) in reason, reason
    assert "`huggingface-cli download some/missing-model`" in reason
    sdk_session.sagemaker_client.delete_endpoint(EndpointName=name)
