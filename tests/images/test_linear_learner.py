"""Contract of the `linear-learner` image (SageMaker's built-in Linear Learner): RecordIO-protobuf
and CSV training, train/validation/test channels, the quality-metric log lines, the model artifact,
and inference in CSV, JSON, JSON lines and RecordIO-protobuf with the documented response shapes."""
import json
import os
import sys

import numpy as np

from support import Endpoint, OptMl, ROOT, csv_body, fixture, read_csv, run_training

sys.path.insert(0, os.path.join(ROOT, "emulator-images", "base", "overlay", "usr", "lib", "python3",
                                "dist-packages"))
from sagebox_container import recordio  # noqa: E402

IMAGE = "linear-learner"


def test_binary_classifier_from_recordio(image, tmp_path):
    job = OptMl(tmp_path / "job", {
        "feature_dim": "64", "predictor_type": "binary_classifier", "mini_batch_size": "100", "epochs": "10",
    }, {name: {"content_type": "application/x-recordio-protobuf", "files": [fixture("digits_zero", name + ".rec")]}
        for name in ("train", "validation", "test")})
    rc, logs = run_training(image, job)
    assert rc == 0, logs
    assert "#quality_metric: host=algo-1, epoch=0, train binary_classification_cross_entropy_objective <loss>=" in logs
    assert "#test_score (algo-1) : ('binary_classification_accuracy'," in logs, logs
    assert os.path.isfile(os.path.join(job.model_dir, "model_algo-1"))

    y, X = read_csv(fixture("digits_zero", "test.csv"))
    with Endpoint(image, job.model_dir) as ep:
        ep.wait_ready()
        # JSON request and response (the SDK's JSONSerializer shape).
        body = json.dumps({"instances": [{"features": row.tolist()} for row in X]})
        status, resp, headers = ep.invoke(body, "application/json", "application/json")
        assert status == 200, resp
        assert headers["Content-Type"].startswith("application/json")
        preds = json.loads(resp)["predictions"]
        labels = np.array([p["predicted_label"] for p in preds])
        scores = np.array([p["score"] for p in preds])
        assert all(isinstance(p["predicted_label"], int) for p in preds)
        assert ((scores >= 0) & (scores <= 1)).all()
        accuracy = float((labels == y).mean())
        print("linear-learner digit-is-zero accuracy: %.4f" % accuracy)
        assert accuracy > 0.95

        # CSV request, default Accept (application/json).
        status, resp, _ = ep.invoke(csv_body(X), "text/csv")
        assert status == 200, resp
        assert [p["predicted_label"] for p in json.loads(resp)["predictions"]] == labels.tolist()

        # RecordIO-protobuf both ways.
        status, resp, _ = ep.invoke(recordio.write_dense(X.astype(np.float32)), "application/x-recordio-protobuf",
                                    "application/x-recordio-protobuf")
        assert status == 200, resp
        recs = recordio.read_records(resp)
        assert [int(r["label"]["predicted_label"].values[0]) for r in recs] == labels.tolist()
        np.testing.assert_allclose([r["label"]["score"].values[0] for r in recs], scores, rtol=1e-5)

        # JSON lines, single-record {"features": ...} request.
        status, resp, _ = ep.invoke(json.dumps({"features": X[0].tolist()}), "application/json", "application/jsonlines")
        assert status == 200, resp
        assert json.loads(resp.decode().splitlines()[0])["predicted_label"] == labels[0]

        status, resp, _ = ep.invoke("1,2,3", "text/csv")
        assert status == 400 and b"feature" in resp


def test_multiclass_classifier_from_csv(image, tmp_path):
    job = OptMl(tmp_path / "job", {
        "feature_dim": "64", "predictor_type": "multiclass_classifier", "num_classes": "10",
        "mini_batch_size": "200", "epochs": "15",
    }, {
        "train": {"content_type": "text/csv", "files": [fixture("digits", "train.csv")]},
        "validation": {"content_type": "text/csv", "files": [fixture("digits", "validation.csv")]},
    })
    rc, logs = run_training(image, job)
    assert rc == 0, logs
    y, X = read_csv(fixture("digits", "test.csv"))
    with Endpoint(image, job.model_dir) as ep:
        ep.wait_ready()
        status, resp, _ = ep.invoke(csv_body(X), "text/csv", "application/json")
        assert status == 200, resp
        preds = json.loads(resp)["predictions"]
        assert len(preds[0]["score"]) == 10
        assert abs(sum(preds[0]["score"]) - 1) < 1e-4
        accuracy = float((np.array([p["predicted_label"] for p in preds]) == y).mean())
        print("linear-learner digits multiclass accuracy: %.4f" % accuracy)
        assert accuracy > 0.9


def test_regressor_from_csv(image, tmp_path):
    job = OptMl(tmp_path / "job", {
        "feature_dim": "10", "predictor_type": "regressor", "mini_batch_size": "32", "epochs": "30",
    }, {"train": {"content_type": "text/csv", "files": [fixture("diabetes", "train.csv")]}})
    rc, logs = run_training(image, job)
    assert rc == 0, logs
    y, X = read_csv(fixture("diabetes", "test.csv"))
    with Endpoint(image, job.model_dir) as ep:
        ep.wait_ready()
        status, resp, _ = ep.invoke(csv_body(X), "text/csv", "application/json")
        assert status == 200, resp
        preds = json.loads(resp)["predictions"]
        assert set(preds[0]) == {"score"}
        scores = np.array([p["score"] for p in preds])
    r2 = 1 - ((scores - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    print("linear-learner diabetes r2: %.3f" % r2)
    assert r2 > 0.3


def test_invalid_hyperparameters_fail_with_client_error(image, tmp_path):
    job = OptMl(tmp_path / "job", {"feature_dim": "64"}, {
        "train": {"content_type": "application/x-recordio-protobuf", "files": [fixture("digits_zero", "train.rec")]},
    })
    rc, logs = run_training(image, job)
    assert rc != 0
    assert job.failure().startswith("ClientError:") and "predictor_type" in job.failure()
