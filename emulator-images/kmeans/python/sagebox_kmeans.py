"""SageMaker's built-in K-Means: its hyperparameters, data formats and responses, with
scikit-learn's k-means underneath.

Training: hyperparameters.json (strings) with k and feature_dim (required), init_method
(random | kmeans++), local_lloyd_max_iter, local_lloyd_tol, mini_batch_size, epochs,
eval_metrics ('["msd"]', '["ssd"]', '["msd","ssd"]'); channels train (required) and test, in
application/x-recordio-protobuf (the default) or text/csv (features only: label_size=0 unless the
ContentType says otherwise). Test scores are logged as `#test_score (algo-1) : ('msd', …)`. The
model (the k centroids) is written to /opt/ml/model/model_algo-1 (a zip holding centroids.npy).

Inference: text/csv, application/json, application/jsonlines, application/x-recordio-protobuf;
responses {"predictions": [{"closest_cluster": 2.0, "distance_to_cluster": 3.1}]} in JSON (default),
JSON lines, RecordIO-protobuf (label tensors closest_cluster, distance_to_cluster) or CSV.
"""
import io
import json
import logging
import os
import zipfile

import numpy as np

from sagebox_container import codecs, data, environment, recordio, server

log = logging.getLogger("sagebox.kmeans")
MODEL_FILE = "model_algo-1"
KNOWN = {
    "k", "feature_dim", "init_method", "local_lloyd_max_iter", "local_lloyd_tol", "local_lloyd_init_method",
    "local_lloyd_num_trials", "mini_batch_size", "epochs", "extra_center_factor", "half_life_time_size",
    "eval_metrics", "force_dense", "_tuning_objective_metric", "_num_gpus", "_kvstore", "_enable_profiler",
    "_log_level", "_num_kv_servers",
}


def _int(raw, name, default=None, minimum=1):
    value = raw.get(name, default)
    if value is None:
        raise environment.ClientError("Missing required hyperparameter: %s" % name)
    if value == "auto":
        return None
    try:
        v = int(float(value))
    except ValueError as e:
        raise environment.ClientError("%s must be an integer, got %r" % (name, value)) from e
    if v < minimum:
        raise environment.ClientError("%s must be at least %d" % (name, minimum))
    return v


def _metrics(X, centroids):
    d2 = ((X[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2).min(axis=1)
    return {"msd": float(d2.mean()), "ssd": float(d2.sum())}


def train_algorithm():
    from sklearn.cluster import KMeans

    raw = environment.raw_hyperparameters()
    unknown = sorted(set(raw) - KNOWN)
    if unknown:
        raise environment.ClientError("Additional hyperparameters are not allowed (%s unexpected)" % ", ".join(unknown))
    k = _int(raw, "k")
    dim = _int(raw, "feature_dim")
    init = raw.get("init_method", "random")
    if init not in ("random", "kmeans++"):
        raise environment.ClientError("init_method must be random or kmeans++")
    max_iter = _int(raw, "local_lloyd_max_iter", "300")
    tol = float(raw.get("local_lloyd_tol", "0.0001"))
    try:
        metrics = json.loads(raw.get("eval_metrics", '["msd"]'))
    except ValueError:
        metrics = [m.strip(" '\"") for m in raw["eval_metrics"].strip("[]").split(",")]
    host = environment.resource_config().get("current_host", "algo-1")
    config = environment.input_data_config()
    if not data.has_channel("train", config):
        raise environment.ClientError("Channel 'train' is required")
    X, _, _ = data.read_channel("train", config, codecs.RECORDIO, label_size=0, feature_dim=dim)
    if X.shape[1] != dim:
        raise environment.ClientError("feature_dim is %d but the train data has %d features" % (dim, X.shape[1]))
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=np.float64)
    if X.shape[0] < k:
        raise environment.ClientError("k=%d is larger than the number of records (%d)" % (k, X.shape[0]))
    model = KMeans(n_clusters=k, init="k-means++" if init == "kmeans++" else "random", n_init=3,
                   max_iter=max_iter, tol=tol, random_state=0).fit(X)
    centroids = model.cluster_centers_.astype(np.float32)
    for name, value in _metrics(X, centroids).items():
        print("#quality_metric: host=%s, train %s <loss>=%s" % (host, name, value), flush=True)
    test = data.read_channel("test", config, codecs.RECORDIO, label_size=0, feature_dim=dim)
    if test is not None:
        Xt = test[0].toarray() if hasattr(test[0], "toarray") else np.asarray(test[0], dtype=np.float64)
        for name, value in _metrics(Xt, centroids).items():
            if name in metrics:
                print("#test_score (%s) : ('%s', %s)" % (host, name, value), flush=True)
                print("#quality_metric: host=%s, test %s <loss>=%s" % (host, name, value), flush=True)
    os.makedirs(environment.MODEL_DIR, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, centroids)
    with zipfile.ZipFile(os.path.join(environment.MODEL_DIR, MODEL_FILE), "w") as z:
        z.writestr("centroids.npy", buf.getvalue())
        z.writestr("additional-params.json", json.dumps({"k": k, "feature_dim": dim, "hyperparameters": raw}))
    log.info("model with %d centroids saved", k)


class Handler:
    SUPPORTED = (codecs.JSON, codecs.JSONLINES, codecs.RECORDIO, codecs.CSV)

    def load(self):
        with zipfile.ZipFile(os.path.join(environment.MODEL_DIR, MODEL_FILE)) as z:
            self.centroids = np.load(io.BytesIO(z.read("centroids.npy"))).astype(np.float64)

    def invoke(self, body, content_type, accept):
        accept = codecs.parse_accept(accept, self.SUPPORTED,
                                     os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", codecs.JSON))
        dim = self.centroids.shape[1]
        X = codecs.decode_matrix(body, content_type, feature_dim=dim)
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=np.float64)
        if X.shape[1] != dim:
            raise server.BadRequest("Invalid feature dimension: expected %d features, got %d" % (dim, X.shape[1]))
        d = np.sqrt(((X[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2))
        closest = d.argmin(axis=1)
        rows = [{"closest_cluster": float(c), "distance_to_cluster": float(d[i, c])} for i, c in enumerate(closest)]
        if accept == codecs.JSON:
            return json.dumps({"predictions": rows}), accept
        if accept == codecs.JSONLINES:
            return "".join(json.dumps(r) + "\n" for r in rows), accept
        if accept == codecs.RECORDIO:
            return recordio.write_label_records(rows), accept
        return "".join("%d,%s\n" % (r["closest_cluster"], r["distance_to_cluster"]) for r in rows), codecs.CSV


def train():
    environment.run_training(train_algorithm)


def serve():
    server.serve("sagebox_kmeans:Handler")
