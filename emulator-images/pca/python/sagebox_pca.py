"""SageMaker's built-in PCA: its hyperparameters, data formats and responses, with numpy's SVD
underneath.

Training: hyperparameters.json (strings) with feature_dim, num_components and mini_batch_size
(required, as in SageMaker), algorithm_mode (regular | randomized), subtract_mean (true),
extra_components; channels train (required) and test, in application/x-recordio-protobuf (the
default) or text/csv (features only: label_size=0 unless the ContentType says otherwise). The model
(mean, components, singular values) is written to /opt/ml/model/model_algo-1 (a zip of .npy files).

Inference: text/csv, application/json, application/jsonlines, application/x-recordio-protobuf;
responses {"projections": [{"projection": [...]}]} in JSON (default), JSON lines, RecordIO-protobuf
(label tensor `projection`) or CSV.
"""
import io
import json
import logging
import os
import zipfile

import numpy as np

from sagebox_container import codecs, data, environment, recordio, server

log = logging.getLogger("sagebox.pca")
MODEL_FILE = "model_algo-1"
KNOWN = {
    "feature_dim", "num_components", "mini_batch_size", "algorithm_mode", "subtract_mean", "extra_components",
    "_tuning_objective_metric", "_num_gpus", "_kvstore", "_enable_profiler", "_log_level", "_num_kv_servers",
}


def _int(raw, name, default=None):
    value = raw.get(name, default)
    if value is None:
        raise environment.ClientError("Missing required hyperparameter: %s" % name)
    try:
        return int(float(value))
    except ValueError as e:
        raise environment.ClientError("%s must be an integer, got %r" % (name, value)) from e


def train_algorithm():
    raw = environment.raw_hyperparameters()
    unknown = sorted(set(raw) - KNOWN)
    if unknown:
        raise environment.ClientError("Additional hyperparameters are not allowed (%s unexpected)" % ", ".join(unknown))
    dim = _int(raw, "feature_dim")
    n_comp = _int(raw, "num_components")
    _int(raw, "mini_batch_size")
    mode = raw.get("algorithm_mode", "regular")
    if mode not in ("regular", "randomized"):
        raise environment.ClientError("algorithm_mode must be regular or randomized")
    if not 1 <= n_comp <= dim:
        raise environment.ClientError("num_components must be between 1 and feature_dim (%d)" % dim)
    subtract_mean = str(raw.get("subtract_mean", "true")).lower() == "true"
    config = environment.input_data_config()
    if not data.has_channel("train", config):
        raise environment.ClientError("Channel 'train' is required")
    X, _, _ = data.read_channel("train", config, codecs.RECORDIO, label_size=0, feature_dim=dim)
    if X.shape[1] != dim:
        raise environment.ClientError("feature_dim is %d but the train data has %d features" % (dim, X.shape[1]))
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0) if subtract_mean else np.zeros(dim)
    if mode == "randomized":
        from sklearn.utils.extmath import randomized_svd

        _, s, vt = randomized_svd(X - mean, n_comp, random_state=0)
    else:
        _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
        s, vt = s[:n_comp], vt[:n_comp]
    host = environment.resource_config().get("current_host", "algo-1")
    explained = float((s ** 2).sum() / max(((X - mean) ** 2).sum(), 1e-12))
    print("#quality_metric: host=%s, train explained_variance_ratio <score>=%s" % (host, explained), flush=True)
    os.makedirs(environment.MODEL_DIR, exist_ok=True)
    with zipfile.ZipFile(os.path.join(environment.MODEL_DIR, MODEL_FILE), "w") as z:
        for name, arr in (("mean.npy", mean), ("components.npy", vt), ("singular_values.npy", s)):
            buf = io.BytesIO()
            np.save(buf, arr.astype(np.float32))
            z.writestr(name, buf.getvalue())
        z.writestr("additional-params.json", json.dumps({"num_components": n_comp, "feature_dim": dim,
                                                         "hyperparameters": raw}))
    log.info("model with %d components saved", n_comp)


class Handler:
    SUPPORTED = (codecs.JSON, codecs.JSONLINES, codecs.RECORDIO, codecs.CSV)

    def load(self):
        with zipfile.ZipFile(os.path.join(environment.MODEL_DIR, MODEL_FILE)) as z:
            self.mean = np.load(io.BytesIO(z.read("mean.npy"))).astype(np.float64)
            self.components = np.load(io.BytesIO(z.read("components.npy"))).astype(np.float64)

    def invoke(self, body, content_type, accept):
        accept = codecs.parse_accept(accept, self.SUPPORTED,
                                     os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", codecs.JSON))
        dim = self.components.shape[1]
        X = codecs.decode_matrix(body, content_type, feature_dim=dim)
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=np.float64)
        if X.shape[1] != dim:
            raise server.BadRequest("Invalid feature dimension: expected %d features, got %d" % (dim, X.shape[1]))
        proj = (X - self.mean) @ self.components.T
        rows = [{"projection": p.tolist()} for p in proj]
        if accept == codecs.JSON:
            return json.dumps({"projections": rows}), accept
        if accept == codecs.JSONLINES:
            return "".join(json.dumps(r) + "\n" for r in rows), accept
        if accept == codecs.RECORDIO:
            return recordio.write_label_records(rows), accept
        return "".join(",".join(str(v) for v in p) + "\n" for p in proj.tolist()), codecs.CSV


def train():
    environment.run_training(train_algorithm)


def serve():
    server.serve("sagebox_pca:Handler")
