"""Contract of the `kmeans` image (SageMaker's built-in K-Means): training from CSV (label_size=1
in the ContentType, so the label column is skipped) and RecordIO-protobuf, test scores in the log,
and the documented closest_cluster / distance_to_cluster responses."""
import json
import os

import numpy as np

from support import Endpoint, OptMl, csv_body, fixture, read_csv, run_training

IMAGE = "kmeans"


def test_clusters_digits(image, tmp_path):
    job = OptMl(tmp_path / "job", {"k": "10", "feature_dim": "64", "mini_batch_size": "500", "init_method": "kmeans++"}, {
        "train": {"content_type": "text/csv;label_size=1", "files": [fixture("digits", "train.csv")]},
        "test": {"content_type": "application/x-recordio-protobuf", "files": [fixture("digits_zero", "test.rec")]},
    })
    rc, logs = run_training(image, job)
    assert rc == 0, logs
    assert "#test_score (algo-1) : ('msd'," in logs, logs
    assert os.path.isfile(os.path.join(job.model_dir, "model_algo-1"))

    y_train, X_train = read_csv(fixture("digits", "train.csv"))
    y_test, X_test = read_csv(fixture("digits", "test.csv"))
    with Endpoint(image, job.model_dir) as ep:
        ep.wait_ready()
        status, body, _ = ep.invoke(csv_body(X_train), "text/csv", "application/json")
        assert status == 200, body
        train_clusters = [int(p["closest_cluster"]) for p in json.loads(body)["predictions"]]
        status, body, _ = ep.invoke(csv_body(X_test), "text/csv", "application/jsonlines")
        assert status == 200, body
        rows = [json.loads(line) for line in body.decode().splitlines()]
        assert all(r["distance_to_cluster"] >= 0 for r in rows)
    # Each cluster stands for the digit most of its training members show.
    majority = {c: np.bincount(y_train[np.array(train_clusters) == c].astype(int)).argmax() for c in set(train_clusters)}
    predicted = np.array([majority.get(int(r["closest_cluster"]), -1) for r in rows])
    purity = float((predicted == y_test).mean())
    print("kmeans digits cluster purity on test: %.3f" % purity)
    assert purity > 0.6
