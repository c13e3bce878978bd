"""Contract of the `pca` image (SageMaker's built-in PCA): training from RecordIO-protobuf and the
documented {"projections": [{"projection": [...]}]} responses, with projections that keep the
structure of the data."""
import json
import os
import sys

import numpy as np

from support import ROOT, Endpoint, OptMl, csv_body, fixture, read_csv, run_training

sys.path.insert(0, os.path.join(ROOT, "emulator-images", "base", "overlay", "usr", "lib", "python3",
                                "dist-packages"))
from sagebox_container import recordio  # noqa: E402

IMAGE = "pca"


def test_projects_digits(image, tmp_path):
    job = OptMl(tmp_path / "job", {"feature_dim": "64", "num_components": "10", "mini_batch_size": "200"}, {
        "train": {"content_type": "application/x-recordio-protobuf", "files": [fixture("digits_zero", "train.rec")]},
    })
    rc, logs = run_training(image, job)
    assert rc == 0, logs
    y_train, X_train = read_csv(fixture("digits_zero", "train.csv"))
    y_test, X_test = read_csv(fixture("digits_zero", "test.csv"))
    with Endpoint(image, job.model_dir) as ep:
        ep.wait_ready()
        status, body, _ = ep.invoke(csv_body(X_train), "text/csv", "application/json")
        assert status == 200, body
        P_train = np.array([p["projection"] for p in json.loads(body)["projections"]])
        status, body, _ = ep.invoke(recordio.write_dense(X_test.astype(np.float32)), "application/x-recordio-protobuf",
                                    "application/x-recordio-protobuf")
        assert status == 200, body
        P_test = np.array([r["label"]["projection"].values for r in recordio.read_records(body)])
    assert P_train.shape == (len(y_train), 10) and P_test.shape == (len(y_test), 10)
    variances = P_train.var(axis=0)
    assert (np.diff(variances) <= 1e-6).all(), "components come in order of explained variance"
    # Zeros stay separable in 10 dimensions: nearest class mean.
    means = [P_train[y_train == c].mean(axis=0) for c in (0, 1)]
    pred = np.argmin([((P_test - m) ** 2).sum(axis=1) for m in means], axis=0)
    accuracy = float((pred == y_test).mean())
    print("pca 10-d nearest-mean digit-is-zero accuracy: %.3f" % accuracy)
    assert accuracy > 0.9
