"""SageMaker XGBoost 1.7-1: the built-in algorithm and framework script mode, on Debian's xgboost 1.7.4.

Algorithm mode (no sagemaker_program hyperparameter): hyperparameters.json holds XGBoost parameters
as strings (num_round is required); channels `train` (required) and `validation`, in text/csv
(label in the first column; `csv_weights=1` puts instance weights in the second), text/libsvm (the
default when a channel names no ContentType) or application/x-recordio-protobuf. Evaluation results
are logged per round as `[3]#011train-rmse:0.12345#011validation-rmse:0.23456` (what SageMaker's
metric regexes match) and the model is saved as /opt/ml/model/xgboost-model (XGBoost's binary format).

Serving, as the 1.7-1 container's algorithm-mode server answers: text/csv (no label), text/libsvm
(the default when a request names no Content-Type) and application/x-recordio-protobuf requests
(anything else, or a body that does not parse: 415); an empty body: 204. Predictions come back as
text/csv with one prediction per line (a multi:softprob row per line, its classes comma-separated)
or as JSON ({"predictions": [{"score": ...}]}); Accept application/jsonlines and
x-recordio-protobuf are accepted but have no encoder outside selectable output, so they fail with
500 as the real container's do. In batch transform (SAGEMAKER_BATCH=true) every Accept gets one
prediction per line, each as Python prints it. SAGEMAKER_INFERENCE_OUTPUT selects classification
outputs (predicted_label, probability, probabilities, raw_score, raw_scores, labels,
predicted_score) in any of the four Accept types, as SageMaker does.

Script mode (sagemaker_program set, or SAGEMAKER_PROGRAM when serving): the user's entry point, with
XGBoost defaults for model_fn / input_fn / predict_fn / output_fn.
"""
import json
import logging
import os
import pickle

import numpy as np

from sagebox_container import codecs, data, environment, recordio, scriptmode, server

log = logging.getLogger("sagebox.xgboost")

MODEL_FILE = "xgboost-model"

# Hyperparameters of the SageMaker XGBoost 1.7-1 algorithm. Values stay strings: XGBoost parses them.
XGB_PARAMS = {
    "alpha", "base_score", "booster", "colsample_bylevel", "colsample_bynode", "colsample_bytree",
    "deterministic_histogram", "eta", "eval_metric", "gamma", "grow_policy", "interaction_constraints",
    "lambda", "lambda_bias", "max_bin", "max_cat_to_onehot", "max_delta_step", "max_depth", "max_leaves",
    "min_child_weight", "monotone_constraints", "normalize_type", "nthread", "num_class",
    "num_parallel_tree", "objective", "one_drop", "process_type", "rate_drop", "refresh_leaf",
    "sample_type", "sampling_method", "scale_pos_weight", "seed", "single_precision_histogram",
    "sketch_eps", "skip_drop", "subsample", "tree_method", "tweedie_variance_power", "updater",
    "verbosity", "predictor", "max_cached_hist_node", "huber_slope", "aft_loss_distribution",
    "aft_loss_distribution_scale", "multi_strategy",
}
CONTAINER_PARAMS = {
    "num_round", "early_stopping_rounds", "csv_weights", "save_model_on_termination", "_kfold",
    "_num_cv_round", "_tuning_objective_metric", "use_dask_gpu_training", "prob_buffer_row",
    "validate_parameters",
}
CLASSIFICATION = ("binary:logistic", "binary:logitraw", "binary:hinge", "multi:softmax", "multi:softprob")


# ---------------------------------------------------------------- training data

def load_channel(channel, config, csv_weights=False):
    """A channel's files → xgboost.DMatrix (None when the channel is absent); libsvm by default."""
    import xgboost as xgb

    loaded = data.read_channel(channel, config, default_type=codecs.LIBSVM, label_size=1,
                               extra_columns=1 if csv_weights else 0)
    if loaded is None:
        return None
    X, y, extra = loaded
    if y is None:
        raise environment.ClientError("channel %s: every record needs a label" % channel)
    weights = None
    if extra is not None and codecs.parse_content_type(
            (config.get(channel) or {}).get("ContentType", ""), codecs.LIBSVM)[0] == codecs.CSV:
        weights = extra[:, 0]
    return xgb.DMatrix(X, label=y, weight=weights)


# ---------------------------------------------------------------- algorithm-mode training

def _parse_hyperparameters(raw):
    unknown = sorted(k for k in raw if k not in XGB_PARAMS and k not in CONTAINER_PARAMS)
    if unknown:
        raise environment.ClientError(
            "Additional hyperparameters are not allowed (%s %s unexpected)"
            % (", ".join(repr(u) for u in unknown), "was" if len(unknown) == 1 else "were")
        )
    if "num_round" not in raw:
        raise environment.ClientError("Missing required hyperparameter: num_round")
    try:
        num_round = int(float(raw["num_round"]))
    except ValueError as e:
        raise environment.ClientError("num_round must be an integer, got %r" % raw["num_round"]) from e
    params = {k: str(v) for k, v in raw.items() if k in XGB_PARAMS}
    params.setdefault("objective", "reg:squarederror")
    if params["objective"] == "reg:linear":
        params["objective"] = "reg:squarederror"
    if params["objective"].startswith("multi:") and "num_class" not in params:
        raise environment.ClientError("num_class is required for objective %s" % params["objective"])
    metrics = [m.strip() for m in params.pop("eval_metric", "").split(",") if m.strip()]
    params.setdefault("verbosity", "1")
    if "nthread" not in params:
        params["nthread"] = str(environment.num_cpus())
    return params, metrics, num_round


def _round_logger():
    import xgboost as xgb

    class Log(xgb.callback.TrainingCallback):
        """One line per round in the format SageMaker's XGBoost writes to CloudWatch."""

        def after_iteration(self, model, epoch, evals_log):
            parts = ["[%d]" % epoch]
            for dataset, metrics in evals_log.items():
                for metric, values in metrics.items():
                    score = values[-1]
                    score = score[0] if isinstance(score, tuple) else score
                    parts.append("%s-%s:%.5f" % (dataset, metric, score))
            print("#011".join(parts), flush=True)
            return False

    return Log()


def train_algorithm():
    import xgboost as xgb

    raw = environment.raw_hyperparameters()
    params, metrics, num_round = _parse_hyperparameters(raw)
    config = environment.input_data_config()
    if not data.has_channel("train", config):
        raise environment.ClientError("Channel 'train' is required")
    csv_weights = str(raw.get("csv_weights", "0")) == "1"
    dtrain = load_channel("train", config, csv_weights)
    if dtrain is None:
        raise environment.ClientError("Channel 'train' is required and has no data")
    dval = load_channel("validation", config, csv_weights)
    evals = [(dtrain, "train")] + ([(dval, "validation")] if dval is not None else [])
    if metrics:
        params["eval_metric"] = metrics
    early = raw.get("early_stopping_rounds")
    log.info("training with %s for %d rounds", json.dumps(params, sort_keys=True), num_round)
    try:
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=num_round,
            evals=evals,
            early_stopping_rounds=int(early) if early and dval is not None else None,
            verbose_eval=False,
            callbacks=[_round_logger()],
        )
    except xgb.core.XGBoostError as e:
        raise environment.ClientError(str(e).strip().splitlines()[0]) from e
    os.makedirs(environment.MODEL_DIR, exist_ok=True)
    path = os.path.join(environment.MODEL_DIR, MODEL_FILE)
    booster.save_model(path)
    log.info("model saved to %s", path)


def train():
    hps = environment.hyperparameters()
    if hps.get("sagemaker_program") or os.environ.get("SAGEMAKER_PROGRAM"):
        scriptmode.train_main()
    else:
        environment.run_training(train_algorithm)


# ---------------------------------------------------------------- inference helpers

def load_boosters(model_dir):
    """Every model file in model_dir (pickled Booster or XGBoost format), as SageMaker loads them."""
    import xgboost as xgb

    boosters = []
    for name in sorted(os.listdir(model_dir)):
        path = os.path.join(model_dir, name)
        if not os.path.isfile(path) or name.startswith("."):
            continue
        try:
            with open(path, "rb") as f:
                booster = pickle.load(f)
        except Exception:  # noqa: BLE001 - not a pickle: try XGBoost's own formats
            booster = xgb.Booster()
            try:
                booster.load_model(path)
            except xgb.core.XGBoostError as e:
                raise RuntimeError("model file %s cannot be loaded: %s" % (path, e)) from e
        if hasattr(booster, "get_booster"):
            booster = booster.get_booster()
        booster.set_param("nthread", 1)
        boosters.append(booster)
    if not boosters:
        raise RuntimeError("no model file in %s" % model_dir)
    return boosters


def request_dmatrix(body, content_type):
    import xgboost as xgb

    media, _ = codecs.parse_content_type(content_type, codecs.CSV)
    try:
        if media == codecs.CSV:
            X = codecs.csv_matrix(body)
        elif media == codecs.LIBSVM:
            X = codecs.libsvm_matrix(body, want_labels=False)[0]
        elif media == codecs.RECORDIO:
            X = recordio.read_matrix(body, want_labels=False)[0]
        elif media in (codecs.JSON, codecs.JSONLINES):
            X = codecs.decode_matrix(body, media)
        else:
            raise codecs.UnsupportedContentType("Content-type %s is not supported." % content_type)
    except codecs.UnsupportedContentType:
        raise
    except Exception as e:
        raise server.BadRequest("Loading %s data failed: %s" % (media, e)) from e
    return xgb.DMatrix(X)


def check_feature_count(booster, dmatrix, content_type):
    """SageMaker's check: dense requests must have the model's feature count (or one fewer),
    libsvm requests at most one more (indices may start at 1)."""
    expected, got = booster.num_features(), dmatrix.num_col()
    media, _ = codecs.parse_content_type(content_type, codecs.CSV)
    if media == codecs.LIBSVM:
        if got > expected + 1:
            raise server.BadRequest("Feature size of libsvm inference data %d is larger than feature size of "
                                    "trained model %d." % (got, expected))
    elif got not in (expected, expected - 1):
        raise server.BadRequest("Feature size of %s inference data %d is not consistent with feature size of "
                                "trained model %d." % (media, got, expected))


def _objective(booster):
    try:
        cfg = json.loads(booster.save_config())
        learner = cfg["learner"]
        return learner["objective"]["name"], learner["learner_model_param"].get("num_class", "0")
    except Exception:  # noqa: BLE001
        return "", "0"


def _selected(pred, key, objective, num_class):
    p = np.asarray(pred)
    if key == "predicted_score":
        return float(p) if objective not in CLASSIFICATION else float("nan")
    if objective not in CLASSIFICATION:
        return float("nan")
    if key == "predicted_label":
        if objective in ("binary:hinge", "multi:softmax"):
            return float(p)
        if objective == "binary:logistic":
            return int(float(p) > 0.5)
        if objective == "binary:logitraw":
            return int(float(p) > 0)
        return int(np.argmax(p))
    if key == "labels":
        return [0, 1] if objective.startswith("binary:") else list(range(int(num_class or 0)))
    if key == "probability":
        if objective == "multi:softprob":
            return float(p.max())
        return float(p) if objective == "binary:logistic" else float("nan")
    if key == "probabilities":
        if objective == "multi:softprob":
            return p.tolist()
        return [1.0 - float(p), float(p)] if objective == "binary:logistic" else float("nan")
    if key == "raw_score":
        return float(p.max()) if objective == "multi:softprob" else float(p)
    if key == "raw_scores":
        return p.tolist() if objective == "multi:softprob" else [1.0 - float(p), float(p)]
    return float("nan")


SUPPORTED_ACCEPTS = [codecs.JSON, codecs.JSONLINES, codecs.RECORDIO, codecs.CSV]


class UnsupportedFormatError(RuntimeError):
    """An Accept the container names as supported but cannot encode predictions in (500)."""


def _request_media(content_type):
    """A request's Content-Type → csv, libsvm or recordio-protobuf (none named: libsvm)."""
    media, params = codecs.parse_content_type(content_type, codecs.LIBSVM)
    if media not in (codecs.CSV, codecs.LIBSVM, codecs.RECORDIO):
        raise codecs.UnsupportedContentType("Content-type %s is not supported." % content_type)
    if media == codecs.CSV and params.get("label_size", "1") != "1":
        raise codecs.UnsupportedContentType(
            "%s is not an accepted csv ContentType. Optional parameter label_size must be equal to 1"
            % content_type)
    return media


def _response_media(accept):
    """The whole Accept header, parameters dropped, must be one supported type; none or */*
    means SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (text/csv)."""
    media = (accept or "").split(";")[0].strip()
    if not media or media == "*/*":
        return os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", codecs.CSV)
    if media.lower() not in SUPPORTED_ACCEPTS:
        raise codecs.UnsupportedContentType(
            "Accept type %s is not supported. Please use supported accept types: %s." % (media, SUPPORTED_ACCEPTS))
    return media.lower()


class AlgorithmHandler:
    """Serving for models trained in algorithm mode."""

    def load(self):
        self.boosters = load_boosters(environment.MODEL_DIR)
        self.objective, self.num_class = _objective(self.boosters[0])

    def predict(self, dmatrix):
        preds = [b.predict(dmatrix, validate_features=False) for b in self.boosters]
        return preds[0] if len(preds) == 1 else np.mean(preds, axis=0)

    def invoke(self, body, content_type, accept):
        if not body:
            return None, None
        # The real server's order: the body's type and parse (415), the prediction (400), then
        # Accept (406).
        media = _request_media(content_type)
        try:
            dmatrix = request_dmatrix(body, media)
        except Exception as e:
            name = {codecs.CSV: "csv", codecs.LIBSVM: "libsvm"}.get(media, "recordio-protobuf")
            raise codecs.UnsupportedContentType(
                "Loading %s data failed with Exception, please ensure data is in %s format:\n %s\n %s"
                % (name, name, type(e), e)) from e
        check_feature_count(self.boosters[0], dmatrix, media)
        preds = self.predict(dmatrix)
        batch = bool(os.environ.get("SAGEMAKER_BATCH"))
        selected = os.environ.get("SAGEMAKER_INFERENCE_OUTPUT")
        accept = _response_media(accept)
        if selected:
            keys = [k for k in selected.replace(" ", "").lower().split(",") if k]
            rows = [{k: _selected(p, k, self.objective, self.num_class) for k in keys} for p in preds]
            return self._encode_rows(rows, keys, accept, batch)
        if batch:
            # every Accept: one prediction per line as Python prints it ("[0.1, 0.9]" for a row)
            return "".join("%s\n" % v for v in preds.tolist()), accept
        if accept == codecs.JSON:
            return json.dumps({"predictions": [{"score": np.asarray(p).tolist()} for p in preds]}), accept
        if accept != codecs.CSV:
            raise UnsupportedFormatError(
                "Content type %s is not supported by this framework. Please implement input_fn to "
                "to deserialize the request data or an output_fn to serialize the response." % accept)
        # one line per prediction, a multi-class row's probabilities comma-separated on its line
        rows = preds.tolist()
        return "".join((",".join(str(v) for v in r) if isinstance(r, list) else str(r)) + "\n"
                       for r in rows), codecs.CSV

    @staticmethod
    def _encode_rows(rows, keys, accept, batch):
        if accept == codecs.JSON:
            return json.dumps({"predictions": rows}), accept
        if accept == codecs.JSONLINES:
            return "".join(json.dumps(r) + "\n" for r in rows), accept
        if accept == codecs.RECORDIO:
            return recordio.write_label_records(rows), accept
        lines = [",".join('"%s"' % r[k] if isinstance(r[k], list) else str(r[k]) for k in keys) for r in rows]
        return "\n".join(lines) + ("\n" if batch else ""), codecs.CSV


# ---------------------------------------------------------------- script-mode defaults

def default_model_fn(model_dir):
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.exists(path):
        raise RuntimeError("no %s in %s; provide a model_fn" % (MODEL_FILE, model_dir))
    return load_boosters_single(path)


def load_boosters_single(path):
    import xgboost as xgb

    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception:  # noqa: BLE001
        booster = xgb.Booster()
        booster.load_model(path)
        return booster


def default_input_fn(input_data, content_type):
    body = input_data.encode("utf-8") if isinstance(input_data, str) else input_data
    media, _ = codecs.parse_content_type(content_type, codecs.CSV)
    if media == codecs.NPY:
        import xgboost as xgb

        return xgb.DMatrix(codecs.decode_matrix(body, media))
    return request_dmatrix(body, content_type)


def default_predict_fn(input_data, model):
    return model.predict(input_data, validate_features=False)


def default_output_fn(prediction, accept):
    media, _ = codecs.parse_content_type(accept, codecs.JSON)
    return codecs.encode_default(prediction, media), media


class ScriptHandler(scriptmode.UserModuleHandler):
    defaults = "sagebox_xgboost"


def serve():
    if os.environ.get("SAGEMAKER_PROGRAM"):
        scriptmode.serve_main("sagebox_xgboost:ScriptHandler")
    else:
        server.serve("sagebox_xgboost:AlgorithmHandler")
