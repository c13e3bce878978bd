"""TensorFlow script mode through the SageMaker SDK v2's real paths: sagemaker.tensorflow.TensorFlow
trains a small Keras model on the digits set (fixtures/digits) and exports a SavedModel into
SM_MODEL_DIR/1; deploy() serves it with TensorFlow Serving's REST shapes and errors; TensorFlowModel
adds an inference.py (input_handler / output_handler) in front; transformer() runs CSV lines through
the same image; 2-instance jobs get the toolkit's TF_CONFIG (multi_worker_mirrored_strategy
all-reduces across them; parameter_server runs a server per host); TensorFlow 1 is refused. The
image is emulator-images/tensorflow (TensorFlow 2.20, CPU), built on first use."""

import io
import json
import os
import tarfile

import numpy as np
import pytest

from support import REPO, docker_answers

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
ACCURACY_FLOOR = 0.9  # a 64-32-10 MLP reaches ~0.96 on the 360 test digits after 20 epochs

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")

TRAIN_PY = '''
import argparse, json, os
import numpy as np
import keras

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--model_dir")
args = parser.parse_args()
print("model_dir=%s" % args.model_dir)
print("TF_CONFIG=%s" % os.environ.get("TF_CONFIG"))

data = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv"), delimiter=",", dtype=np.float32)
x, y = data[:, 1:] / 16.0, data[:, 0].astype(np.int64)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=args.epochs, batch_size=32, verbose=2)
model.export(os.path.join(os.environ["SM_MODEL_DIR"], "1"))
'''

INFERENCE_PY = '''
import json


def input_handler(data, context):
    """Raw 0..16 pixel rows in, TensorFlow Serving's row format (scaled) out."""
    rows = json.loads(data.read().decode("utf-8"))["pixels"]
    return json.dumps({"instances": [[v / 16.0 for v in row] for row in rows]})


def output_handler(response, context):
    if response.status_code != 200:
        raise ValueError(response.content.decode("utf-8"))
    predictions = response.json()["predictions"]
    classes = [max(range(len(p)), key=p.__getitem__) for p in predictions]
    return json.dumps({"classes": classes, "rest_uri": context.rest_uri}), context.accept_header
'''

MWMS_PY = '''
import json, os
import tensorflow as tf

config = json.loads(os.environ["TF_CONFIG"])
strategy = tf.distribute.MultiWorkerMirroredStrategy()
rank = config["task"]["index"]
total = strategy.run(lambda: tf.constant(float(rank + 1)))
total = strategy.reduce(tf.distribute.ReduceOp.SUM, total, axis=None)
print("workers=%d rank=%d allreduce=%s" % (strategy.num_replicas_in_sync, rank, total.numpy()))
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "result.json"), "w") as f:
    json.dump({"tf_config": config, "allreduce": float(total.numpy()),
               "replicas": strategy.num_replicas_in_sync}, f)
'''

PS_PY = '''
import json, os, socket, time


def wait_for(address):
    host, port = address.split(":")
    for _ in range(240):
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("%s never answered" % address)


config = json.loads(os.environ["TF_CONFIG"])
if config["task"]["type"] == "master":
    # The master's own server (as a TF 1 master task would run): workers keep their parameter
    # servers up until it goes away.
    server = socket.create_server(("", 2222))
    for address in config["cluster"]["ps"]:  # each host's parameter server (tf.distribute.Server)
        wait_for(address)
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "tf_config.json"), "w") as f:
        json.dump(config, f)
    server.close()
else:
    wait_for(config["cluster"]["master"][0])
'''


def tar_members(s3, uri):
    bucket, key = uri[len("s3://"):].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def digits_test():
    data = np.loadtxt(REPO / "fixtures" / "digits" / "test.csv", delimiter=",")
    return data[:, 1:], data[:, 0].astype(int)


@pytest.fixture(scope="module")
def trained(sdk_session, bucket, tmp_path_factory):
    """One script-mode training job; its estimator serves the deployment tests."""
    from sagemaker.tensorflow import TensorFlow

    src = tmp_path_factory.mktemp("tf-src")
    (src / "train.py").write_text(TRAIN_PY)
    train = sdk_session.upload_data(str(REPO / "fixtures" / "digits" / "train.csv"), bucket, "tf/train")
    est = TensorFlow(entry_point="train.py", source_dir=str(src), framework_version="2.13", py_version="py310",
                     role=ROLE, instance_count=1, instance_type="ml.m5.large", sagemaker_session=sdk_session,
                     output_path="s3://%s/tf/output" % bucket, code_location="s3://%s/tf/code" % bucket,
                     hyperparameters={"epochs": 20})
    est.fit({"train": train}, logs=True)
    return est


def test_script_mode_trains_keras_and_exports_a_savedmodel(trained, sdk_session, s3, logs, bucket):
    d = sdk_session.describe_training_job(trained.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    files = tar_members(s3, d["ModelArtifacts"]["S3ModelArtifacts"])
    assert "1/saved_model.pb" in files
    assert any(name.startswith("1/variables/variables.data") for name in files)
    # The SDK's model_dir hyperparameter reaches the script as --model_dir; one host, no TF_CONFIG.
    model_dir = "s3://%s/tf/output/%s/model" % (bucket, d["TrainingJobName"])
    assert json.loads(d["HyperParameters"]["model_dir"]) == model_dir
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                        logStreamNamePrefix=d["TrainingJobName"] + "/")["logStreams"]
    text = "\n".join(e["message"] for s in streams for e in logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=s["logStreamName"], startFromHead=True)["events"])
    assert "model_dir=%s" % model_dir in text
    assert "TF_CONFIG=None" in text
    assert "Epoch 20/20" in text


def test_deploy_predicts_instances_with_tensorflow_serving_shapes(trained):
    from sagemaker.deserializers import JSONDeserializer

    x, y = digits_test()
    predictor = trained.deploy(initial_instance_count=1, instance_type="ml.m5.large")
    try:
        result = predictor.predict({"instances": (x / 16.0).tolist()})
        predictions = np.array(result["predictions"])
        assert predictions.shape == (len(y), 10)
        assert np.allclose(predictions.sum(axis=1), 1.0, atol=1e-4)
        accuracy = float((predictions.argmax(axis=1) == y).mean())
        assert accuracy > ACCURACY_FLOOR, accuracy

        # Columnar format and an explicit signature answer "outputs" with the same numbers.
        columnar = predictor.predict({"signature_name": "serving_default", "inputs": (x[:3] / 16.0).tolist()})
        assert np.allclose(np.array(columnar["outputs"]), predictions[:3], atol=1e-6)

        # CSV rows become instances, as the container's front converts them.
        csv_body = "\n".join(",".join(str(float(v) / 16.0) for v in row) for row in x[:2])
        raw = predictor.sagemaker_session.sagemaker_runtime_client.invoke_endpoint(
            EndpointName=predictor.endpoint_name, ContentType="text/csv", Accept="application/json", Body=csv_body)
        assert np.allclose(np.array(json.loads(raw["Body"].read())["predictions"]), predictions[:2], atol=1e-6)

        # TensorFlow Serving's errors: its message in {"error": ...} with its status code.
        runtime = predictor.sagemaker_session.sagemaker_runtime_client
        for body, status, message in [
            ({"instances": [[0.0] * 63]}, 400, "Matrix size-incompatible"),
            ({"instances": [["a"] * 64]}, 400, "is not of expected type: float"),
            ({"signature_name": "nope", "instances": [[0.0] * 64]}, 400,
             'Serving signature name: "nope" not found in signature def'),
            ({"rows": [[0.0] * 64]}, 400, "Failed to process element: 0"),
        ]:
            with pytest.raises(runtime.exceptions.ModelError) as e:
                runtime.invoke_endpoint(EndpointName=predictor.endpoint_name, ContentType="application/json",
                                        Body=json.dumps(body))
            assert e.value.response["OriginalStatusCode"] == status
            assert message in json.loads(e.value.response["OriginalMessage"])["error"]
        with pytest.raises(runtime.exceptions.ModelError) as e:
            runtime.invoke_endpoint(EndpointName=predictor.endpoint_name, ContentType="application/x-npy", Body=b"x")
        assert e.value.response["OriginalStatusCode"] == 415
        assert predictor.deserializer.__class__ is JSONDeserializer
    finally:
        predictor.delete_endpoint()


def test_inference_py_handlers_wrap_tensorflow_serving(trained, sdk_session, tmp_path):
    from sagemaker.tensorflow import TensorFlowModel

    (tmp_path / "inference.py").write_text(INFERENCE_PY)
    model = TensorFlowModel(model_data=trained.model_data, role=ROLE, entry_point="inference.py",
                            source_dir=str(tmp_path), framework_version="2.13", sagemaker_session=sdk_session)
    x, y = digits_test()
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.large")
    try:
        result = predictor.predict({"pixels": x.tolist()})
        assert result["rest_uri"] == "http://localhost:8501/v1/models/model:predict"
        accuracy = float((np.array(result["classes"]) == y).mean())
        assert accuracy > ACCURACY_FLOOR, accuracy
        # A handler's exception is the python service's 500 with {"error": ...}.
        runtime = predictor.sagemaker_session.sagemaker_runtime_client
        with pytest.raises(runtime.exceptions.ModelError) as e:
            runtime.invoke_endpoint(EndpointName=predictor.endpoint_name, ContentType="application/json",
                                    Body=json.dumps({"pixels": [[1, 2, 3]]}))
        assert e.value.response["OriginalStatusCode"] == 500
        assert "Matrix size-incompatible" in json.loads(e.value.response["OriginalMessage"])["error"]
    finally:
        predictor.delete_endpoint()


def test_batch_transform_runs_csv_lines_through_the_same_image(trained, sdk_session, s3, bucket):
    x, y = digits_test()
    body = "\n".join(",".join(str(float(v) / 16.0) for v in row) for row in x) + "\n"
    s3.put_object(Bucket=bucket, Key="tf-batch/in/test.csv", Body=body.encode())
    transformer = trained.transformer(instance_count=1, instance_type="ml.m5.large", strategy="MultiRecord",
                                      assemble_with="Line", accept="application/json",
                                      output_path="s3://%s/tf-batch/out" % bucket)
    transformer.transform("s3://%s/tf-batch/in/test.csv" % bucket, content_type="text/csv", split_type="Line",
                          logs=False)
    d = sdk_session.sagemaker_client.describe_transform_job(TransformJobName=transformer.latest_transform_job.name)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    text = s3.get_object(Bucket=bucket, Key="tf-batch/out/test.csv.out")["Body"].read().decode()
    predictions, decoder, pos = [], json.JSONDecoder(), 0
    while pos < len(text.strip()):
        doc, end = decoder.raw_decode(text, pos)
        predictions.extend(doc["predictions"])
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    assert len(predictions) == len(y)
    accuracy = float((np.array(predictions).argmax(axis=1) == y).mean())
    assert accuracy > ACCURACY_FLOOR, accuracy


def test_multi_worker_mirrored_strategy_meets_over_tf_config(sdk_session, s3, bucket, tmp_path):
    from sagemaker.tensorflow import TensorFlow

    (tmp_path / "mwms.py").write_text(MWMS_PY)
    est = TensorFlow(entry_point="mwms.py", source_dir=str(tmp_path), framework_version="2.13", py_version="py310",
                     role=ROLE, instance_count=2, instance_type="ml.m5.large", sagemaker_session=sdk_session,
                     output_path="s3://%s/tf-mwms/output" % bucket, code_location="s3://%s/tf-mwms/code" % bucket,
                     distribution={"multi_worker_mirrored_strategy": {"enabled": True}})
    est.fit(logs=True)
    d = sdk_session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    out = d["ModelArtifacts"]["S3ModelArtifacts"].replace("model.tar.gz", "output.tar.gz")
    result = json.loads(tar_members(s3, out)["result.json"])
    # algo-1 uploads its output: rank 0 of two workers, 1 + 2 summed across them.
    assert result == {"tf_config": {"cluster": {"worker": ["algo-1:8890", "algo-2:8890"]}, "environment": "cloud",
                                    "task": {"index": 0, "type": "worker"}},
                      "allreduce": 3.0, "replicas": 2}


def test_parameter_server_cluster_runs_a_server_per_host(sdk_session, s3, bucket, tmp_path):
    from sagemaker.tensorflow import TensorFlow

    (tmp_path / "ps.py").write_text(PS_PY)
    est = TensorFlow(entry_point="ps.py", source_dir=str(tmp_path), framework_version="2.13", py_version="py310",
                     role=ROLE, instance_count=2, instance_type="ml.m5.large", sagemaker_session=sdk_session,
                     output_path="s3://%s/tf-ps/output" % bucket, code_location="s3://%s/tf-ps/code" % bucket,
                     distribution={"parameter_server": {"enabled": True}})
    est.fit(logs=True)
    d = sdk_session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    out = d["ModelArtifacts"]["S3ModelArtifacts"].replace("model.tar.gz", "output.tar.gz")
    # The toolkit's shapes: algo-1 the master, algo-2 a worker, both parameter servers.
    assert json.loads(tar_members(s3, out)["tf_config.json"]) == {
        "cluster": {"master": ["algo-1:2222"], "ps": ["algo-1:2223", "algo-2:2223"], "worker": ["algo-2:2222"]},
        "environment": "cloud", "task": {"index": 0, "type": "master"}}


def test_tensorflow_1_is_refused_with_a_clear_message(sdk_session, bucket, tmp_path):
    from sagemaker.exceptions import UnexpectedStatusException
    from sagemaker.tensorflow import TensorFlow

    (tmp_path / "train.py").write_text("print('never runs')\n")
    est = TensorFlow(entry_point="train.py", source_dir=str(tmp_path), framework_version="1.15.5", py_version="py37",
                     role=ROLE, instance_count=1, instance_type="ml.m5.large", sagemaker_session=sdk_session,
                     output_path="s3://%s/tf1/output" % bucket, code_location="s3://%s/tf1/code" % bucket)
    with pytest.raises(UnexpectedStatusException):
        est.fit(logs=False)
    d = sdk_session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert "TensorFlow 1.15.5" in reason and "framework_version 2.x" in reason, reason
