"""SageMaker's built-in Linear Learner: its hyperparameters, data formats and responses, with a
numpy mini-batch optimizer underneath.

Training: hyperparameters.json (strings) with predictor_type (binary_classifier | regressor |
multiclass_classifier), feature_dim, num_classes, mini_batch_size, epochs, learning_rate, l1, wd,
optimizer (adam | sgd | rmsprop), loss, normalize_data, normalize_label, early stopping,
binary_classifier_model_selection_criteria ... Channels train (required), validation and test, in
application/x-recordio-protobuf (the default) or text/csv (label first). As the real algorithm
does, several models are trained side by side ("auto" learning rates) and the best on the
validation data (else the training data) is kept; for binary classifiers the decision threshold is
then chosen by the model selection criterion. Progress and test scores are logged in Linear
Learner's `#quality_metric:` / `#test_score` lines. The model is written to
/opt/ml/model/model_algo-1 (a zip: the weights as .npy files plus a JSON description).

Inference: text/csv, application/json, application/jsonlines and application/x-recordio-protobuf
requests; responses {"predictions": [{"score": …, "predicted_label": …}]} (binary: score is the
probability of label 1; multiclass: score is the list of class probabilities; regressor: score
only) in application/json (default), application/jsonlines, application/x-recordio-protobuf or
text/csv.
"""
import io
import json
import logging
import os
import zipfile

import numpy as np

from sagebox_container import codecs, data, environment, recordio, server

log = logging.getLogger("sagebox.linear_learner")

MODEL_FILE = "model_algo-1"

KNOWN = {
    "feature_dim", "predictor_type", "num_classes", "mini_batch_size", "epochs", "learning_rate", "l1",
    "wd", "optimizer", "loss", "use_bias", "normalize_data", "normalize_label", "unbias_data",
    "unbias_label", "num_point_for_scaler", "binary_classifier_model_selection_criteria", "target_recall",
    "target_precision", "positive_example_weight_mult", "num_models", "num_calibration_samples",
    "init_method", "init_scale", "init_sigma", "init_bias", "beta_1", "beta_2", "bias_lr_mult",
    "bias_wd_mult", "lr_scheduler_step", "lr_scheduler_factor", "lr_scheduler_minimum_lr", "momentum",
    "margin", "quantile", "loss_insensitivity", "huber_delta", "f_beta", "early_stopping_patience",
    "early_stopping_tolerance", "accuracy_top_k", "balance_multiclass_weights", "_tuning_objective_metric",
    "_kvstore", "_num_gpus", "_num_kv_servers", "_log_level", "_enable_profiler", "_wd_1", "_l1_1",
}
LOSSES = {
    "binary_classifier": ("logistic", "hinge_loss"),
    "multiclass_classifier": ("softmax_loss",),
    "regressor": ("squared_loss", "absolute_loss", "huber_loss", "eps_insensitive_squared_loss",
                  "eps_insensitive_absolute_loss", "quantile_loss"),
}
OBJECTIVE_NAMES = {
    "logistic": "binary_classification_cross_entropy_objective",
    "hinge_loss": "binary_classification_hinge_objective",
    "softmax_loss": "multiclass_cross_entropy_objective",
    "squared_loss": "square_loss_objective",
    "absolute_loss": "absolute_loss_objective",
    "huber_loss": "huber_loss_objective",
    "eps_insensitive_squared_loss": "eps_insensitive_squared_loss_objective",
    "eps_insensitive_absolute_loss": "eps_insensitive_absolute_loss_objective",
    "quantile_loss": "quantile_loss_objective",
}


# ---------------------------------------------------------------- hyperparameters

class Params:
    def __init__(self, raw):
        unknown = sorted(k for k in raw if k not in KNOWN)
        if unknown:
            raise environment.ClientError("Additional hyperparameters are not allowed (%s unexpected)"
                                          % ", ".join(repr(u) for u in unknown))
        self.raw = raw
        self.predictor_type = raw.get("predictor_type")
        if self.predictor_type not in LOSSES:
            raise environment.ClientError(
                "predictor_type must be one of binary_classifier, multiclass_classifier, regressor (got %r)"
                % self.predictor_type)
        fd = raw.get("feature_dim", "auto")
        self.feature_dim = None if fd == "auto" else self._int("feature_dim", 1)
        self.num_classes = 2 if self.predictor_type == "binary_classifier" else 1
        if self.predictor_type == "multiclass_classifier":
            if "num_classes" not in raw:
                raise environment.ClientError("num_classes is required for multiclass_classifier")
            self.num_classes = self._int("num_classes", 3)
        self.mini_batch_size = self._int("mini_batch_size", 1, 1000)
        self.epochs = self._int("epochs", 1, 15)
        self.learning_rate = self._auto_float("learning_rate")
        self.l1 = self._auto_float("l1") or 0.0
        self.wd = self._auto_float("wd") or 0.0
        self.optimizer = raw.get("optimizer", "auto")
        if self.optimizer == "auto":
            self.optimizer = "adam"
        if self.optimizer not in ("adam", "sgd", "rmsprop"):
            raise environment.ClientError("optimizer must be auto, sgd, adam or rmsprop")
        loss = raw.get("loss", "auto")
        if loss == "auto":
            loss = LOSSES[self.predictor_type][0]
        if loss not in LOSSES[self.predictor_type]:
            raise environment.ClientError("loss %s is not valid for predictor_type %s (valid: %s)"
                                          % (loss, self.predictor_type, ", ".join(LOSSES[self.predictor_type])))
        self.loss = loss
        self.use_bias = self._bool("use_bias", True)
        self.normalize_data = self._bool("normalize_data", True)
        self.normalize_label = self._bool("normalize_label", self.predictor_type == "regressor")
        self.num_point_for_scaler = self._int("num_point_for_scaler", 1, 10000)
        self.criterion = raw.get("binary_classifier_model_selection_criteria", "accuracy")
        if self.criterion not in ("accuracy", "f_beta", "precision_at_target_recall",
                                  "recall_at_target_precision", "loss_function", "cross_entropy_loss"):
            raise environment.ClientError("invalid binary_classifier_model_selection_criteria %s" % self.criterion)
        self.target_recall = self._float("target_recall", 0.8)
        self.target_precision = self._float("target_precision", 0.8)
        self.f_beta = self._float("f_beta", 1.0)
        pw = raw.get("positive_example_weight_mult", "1.0")
        self.positive_weight = pw if pw in ("auto", "balanced") else self._float("positive_example_weight_mult", 1.0)
        self.num_models = raw.get("num_models", "auto")
        self.init_method = raw.get("init_method", "uniform")
        self.init_scale = self._float("init_scale", 0.07)
        self.init_sigma = self._float("init_sigma", 0.01)
        self.init_bias = self._float("init_bias", 0.0)
        self.beta_1 = self._float("beta_1", 0.9)
        self.beta_2 = self._float("beta_2", 0.999)
        self.momentum = self._auto_float("momentum") or 0.0
        self.bias_lr_mult = self._auto_float("bias_lr_mult") or 10.0
        self.bias_wd_mult = self._auto_float("bias_wd_mult") or 0.0
        self.lr_step = self._auto_float("lr_scheduler_step")
        self.lr_factor = self._auto_float("lr_scheduler_factor")
        self.lr_min = self._auto_float("lr_scheduler_minimum_lr") or 1e-5
        self.margin = self._float("margin", 1.0)
        self.quantile = self._float("quantile", 0.5)
        self.insensitivity = self._float("loss_insensitivity", 0.01)
        self.huber_delta = self._float("huber_delta", 1.0)
        self.patience = self._int("early_stopping_patience", 1, 3)
        self.tolerance = self._float("early_stopping_tolerance", 0.001)
        self.top_k = self._int("accuracy_top_k", 1, 3)
        self.balance_classes = self._bool("balance_multiclass_weights", False)

    def _int(self, name, minimum, default=None):
        value = self.raw.get(name, default)
        if value is None:
            raise environment.ClientError("%s is required" % name)
        try:
            v = int(float(value))
        except (TypeError, ValueError) as e:
            raise environment.ClientError("%s must be an integer, got %r" % (name, value)) from e
        if v < minimum:
            raise environment.ClientError("%s must be at least %d, got %d" % (name, minimum, v))
        return v

    def _float(self, name, default):
        value = self.raw.get(name, default)
        try:
            return float(value)
        except (TypeError, ValueError) as e:
            raise environment.ClientError("%s must be a number, got %r" % (name, value)) from e

    def _auto_float(self, name):
        value = self.raw.get(name, "auto")
        if value == "auto":
            return None
        return self._float(name, None)

    def _bool(self, name, default):
        value = str(self.raw.get(name, default)).lower()
        if value in ("true", "1", "auto"):
            return True if value != "auto" else default
        if value in ("false", "0"):
            return False
        raise environment.ClientError("%s must be true or false, got %r" % (name, value))


# ---------------------------------------------------------------- model

def _dot(X, W):
    return np.asarray(X @ W, dtype=np.float64)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Scaler:
    """Per-feature scaling; dense data is also centered (LL's unbias_data), sparse data only scaled."""

    def __init__(self, dim):
        self.mean = np.zeros(dim)
        self.std = np.ones(dim)

    def fit(self, X, n, center):
        import scipy.sparse

        sample = X[:n]
        if scipy.sparse.issparse(sample):
            sq = np.asarray(sample.multiply(sample).mean(axis=0)).ravel()
            self.std = np.sqrt(sq)
        else:
            sample = np.asarray(sample, dtype=np.float64)
            if center:
                self.mean = sample.mean(axis=0)
            self.std = sample.std(axis=0) if center else np.sqrt((sample ** 2).mean(axis=0))
        self.std[~np.isfinite(self.std) | (self.std < 1e-8)] = 1.0

    def apply(self, X):
        import scipy.sparse

        if scipy.sparse.issparse(X):
            return scipy.sparse.csr_matrix(X.multiply(1.0 / self.std)).astype(np.float64)
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.std


class Objective:
    """Loss value and gradient with respect to the raw scores z (n × k)."""

    def __init__(self, p):
        self.p = p

    def __call__(self, z, y, w):
        p, loss = self.p, self.p.loss
        if loss == "logistic":
            s = _sigmoid(z[:, 0])
            vals = -(y * np.log(s + 1e-12) + (1 - y) * np.log(1 - s + 1e-12))
            grad = (s - y)[:, None]
        elif loss == "hinge_loss":
            sgn = 2 * y - 1
            m = p.margin - sgn * z[:, 0]
            vals = np.maximum(m, 0)
            grad = (-(m > 0) * sgn)[:, None]
        elif loss == "softmax_loss":
            prob = _softmax(z)
            idx = y.astype(int)
            vals = -np.log(prob[np.arange(len(idx)), idx] + 1e-12)
            grad = prob.copy()
            grad[np.arange(len(idx)), idx] -= 1
        else:
            r = z[:, 0] - y
            if loss == "squared_loss":
                vals, g = 0.5 * r * r, r
            elif loss == "absolute_loss":
                vals, g = np.abs(r), np.sign(r)
            elif loss == "huber_loss":
                d = p.huber_delta
                small = np.abs(r) <= d
                vals = np.where(small, 0.5 * r * r, d * (np.abs(r) - 0.5 * d))
                g = np.where(small, r, d * np.sign(r))
            elif loss == "eps_insensitive_squared_loss":
                e = np.maximum(np.abs(r) - p.insensitivity, 0)
                vals, g = 0.5 * e * e, e * np.sign(r)
            elif loss == "eps_insensitive_absolute_loss":
                e = np.abs(r) - p.insensitivity
                vals, g = np.maximum(e, 0), (e > 0) * np.sign(r)
            else:  # quantile_loss
                q = p.quantile
                vals = np.where(r >= 0, (1 - q) * r, -q * r)
                g = np.where(r >= 0, 1 - q, -q)
            grad = g[:, None]
        total = float((vals * w).sum() / max(w.sum(), 1e-12))
        return total, grad * w[:, None]


class Candidate:
    def __init__(self, dim, k, lr, p, rng):
        self.lr = lr
        if p.init_method == "normal":
            self.W = rng.normal(0, p.init_sigma, size=(dim, k))
        elif p.init_method == "uniform":
            self.W = rng.uniform(-p.init_scale, p.init_scale, size=(dim, k))
        else:
            self.W = np.zeros((dim, k))
        self.b = np.full(k, p.init_bias, dtype=np.float64)
        self.state = {}
        self.steps = 0
        self.best = (np.inf, self.W.copy(), self.b.copy())
        self.bad_epochs = 0
        self.stopped = False

    def scores(self, X):
        return _dot(X, self.W) + self.b

    def step(self, X, grad, p, n_batch):
        gW = np.asarray(X.T @ grad) / n_batch + p.wd * self.W
        gb = grad.sum(axis=0) / n_batch + p.wd * p.bias_wd_mult * self.b
        lr = self.lr
        if p.lr_step and p.lr_factor:
            lr = max(self.lr * p.lr_factor ** (self.steps // int(p.lr_step)), p.lr_min)
        self.steps += 1
        for name, param, g, mult in (("W", self.W, gW, 1.0), ("b", self.b, gb, p.bias_lr_mult if p.use_bias else 0.0)):
            if mult == 0.0:
                continue
            st = self.state.setdefault(name, {"m": np.zeros_like(param), "v": np.zeros_like(param)})
            if p.optimizer == "adam":
                st["m"] = p.beta_1 * st["m"] + (1 - p.beta_1) * g
                st["v"] = p.beta_2 * st["v"] + (1 - p.beta_2) * g * g
                mhat = st["m"] / (1 - p.beta_1 ** self.steps)
                vhat = st["v"] / (1 - p.beta_2 ** self.steps)
                update = mhat / (np.sqrt(vhat) + 1e-8)
            elif p.optimizer == "rmsprop":
                st["v"] = 0.9 * st["v"] + 0.1 * g * g
                update = g / (np.sqrt(st["v"]) + 1e-8)
            else:
                st["m"] = p.momentum * st["m"] + g
                update = st["m"]
            param -= lr * mult * update
        if p.l1:
            self.W = np.sign(self.W) * np.maximum(np.abs(self.W) - lr * p.l1, 0)


def _class_weights(y, p):
    w = np.ones(len(y))
    if p.predictor_type == "binary_classifier":
        pos = y == 1
        mult = p.positive_weight
        if mult == "balanced":
            mult = (len(y) - pos.sum()) / max(pos.sum(), 1)
        elif mult == "auto":
            mult = 1.0
        w[pos] = mult
    elif p.predictor_type == "multiclass_classifier" and p.balance_classes:
        counts = np.bincount(y.astype(int), minlength=p.num_classes).astype(float)
        per = len(y) / (p.num_classes * np.maximum(counts, 1))
        w = per[y.astype(int)]
    return w


def _quality(host, epoch, split, name, value, kind="loss"):
    where = "epoch=%d, " % epoch if epoch is not None else ""
    print("#quality_metric: host=%s, %s%s %s <%s>=%s" % (host, where, split, name, kind, value), flush=True)


def fit(X, y, Xv, yv, p, host):
    """Train the candidates, return (W, b) of the best, in scaled feature space."""
    n, dim = X.shape
    k = p.num_classes if p.predictor_type == "multiclass_classifier" else 1
    rng = np.random.default_rng(0)
    if p.learning_rate is not None:
        lrs = [p.learning_rate]
    else:
        lrs = [0.1, 0.03, 0.01, 0.003] if p.optimizer != "sgd" else [0.1, 0.01, 0.001]
    if p.num_models != "auto":
        try:
            lrs = (lrs * int(p.num_models))[: max(int(p.num_models), 1)]
        except ValueError as e:
            raise environment.ClientError("num_models must be an integer or auto") from e
    cands = [Candidate(dim, k, lr, p, rng) for lr in lrs]
    obj = Objective(p)
    w = _class_weights(y, p)
    wv = _class_weights(yv, p) if yv is not None else None
    name = OBJECTIVE_NAMES[p.loss]
    bs = min(p.mini_batch_size, n)
    for epoch in range(p.epochs):
        order = rng.permutation(n)
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            Xb, yb, wb = X[idx], y[idx], w[idx]
            for c in cands:
                if not c.stopped:
                    _, grad = obj(c.scores(Xb), yb, wb)
                    c.step(Xb, grad, p, len(idx))
        train_losses = [obj(c.scores(X), y, w)[0] for c in cands]
        best_train = min(train_losses)
        _quality(host, epoch, "train", name, best_train)
        if Xv is not None:
            val_losses = [obj(c.scores(Xv), yv, wv)[0] for c in cands]
            _quality(host, epoch, "validation", name, min(val_losses))
        else:
            val_losses = train_losses
        for c, loss in zip(cands, val_losses):
            if c.stopped:
                continue
            if loss < c.best[0] * (1 - p.tolerance) or not np.isfinite(c.best[0]):
                c.best, c.bad_epochs = (loss, c.W.copy(), c.b.copy()), 0
            else:
                c.bad_epochs += 1
                if Xv is not None and c.bad_epochs >= p.patience:
                    c.stopped = True
        if all(c.stopped for c in cands):
            log.info("early stopping after epoch %d", epoch)
            break
    winner = min(cands, key=lambda c: c.best[0])
    log.info("selected the model with learning rate %g (of %d trained)", winner.lr, len(cands))
    return winner.best[1], winner.best[2]


def _threshold(scores, y, p):
    """The decision threshold for a binary classifier, per the model selection criterion."""
    default = 0.5 if p.loss == "logistic" else 0.0
    if p.criterion in ("loss_function", "cross_entropy_loss") or len(np.unique(y)) < 2:
        return default
    order = np.argsort(-scores)
    s, t = scores[order], y[order]
    tp = np.cumsum(t)
    fp = np.cumsum(1 - t)
    pos = t.sum()
    neg = len(t) - pos
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / max(pos, 1)
    if p.criterion == "accuracy":
        metric = (tp + (neg - fp)) / len(t)
    elif p.criterion == "f_beta":
        b2 = p.f_beta ** 2
        metric = (1 + b2) * precision * recall / np.maximum(b2 * precision + recall, 1e-12)
    elif p.criterion == "precision_at_target_recall":
        metric = np.where(recall >= p.target_recall, precision, -1)
    else:
        metric = np.where(precision >= p.target_precision, recall, -1)
    i = int(np.argmax(metric))
    # Threshold halfway between the last accepted score and the next one.
    return float((s[i] + s[i + 1]) / 2) if i + 1 < len(s) else float(s[i] - 1e-6)


class Model:
    """The trained model in input feature space: scores = X @ W + b, then the link function."""

    def __init__(self, W, b, meta):
        self.W, self.b, self.meta = W, b, meta

    @property
    def predictor_type(self):
        return self.meta["predictor_type"]

    def raw(self, X):
        return _dot(X, self.W) + self.b

    def predict(self, X):
        """(scores, labels): labels None for regressors."""
        z = self.raw(X)
        t = self.predictor_type
        if t == "binary_classifier":
            s = _sigmoid(z[:, 0]) if self.meta["loss"] == "logistic" else z[:, 0]
            return s, (s > self.meta["threshold"]).astype(int)
        if t == "multiclass_classifier":
            prob = _softmax(z)
            return prob, prob.argmax(axis=1)
        return z[:, 0], None

    def save(self, path):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("additional-params.json", json.dumps(self.meta, indent=1, sort_keys=True))
            for name, arr in (("weights.npy", self.W), ("bias.npy", self.b)):
                b = io.BytesIO()
                np.save(b, arr)
                z.writestr(name, b.getvalue())
            z.writestr("manifest.json", json.dumps({"format": "sagebox-linear-learner", "version": 1}))
        with open(path, "wb") as f:
            f.write(buf.getvalue())

    @classmethod
    def load(cls, path):
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("additional-params.json"))
            W = np.load(io.BytesIO(z.read("weights.npy")))
            b = np.load(io.BytesIO(z.read("bias.npy")))
        return cls(W, b, meta)


def _check_labels(y, p, channel):
    if y is None:
        raise environment.ClientError("channel %s: records need a label" % channel)
    if not np.all(np.isfinite(y)):
        raise environment.ClientError("channel %s: labels must be finite numbers" % channel)
    if p.predictor_type == "binary_classifier" and not np.isin(y, (0, 1)).all():
        raise environment.ClientError("channel %s: labels of a binary_classifier must be 0 or 1" % channel)
    if p.predictor_type == "multiclass_classifier":
        if not (np.equal(np.mod(y, 1), 0).all() and y.min() >= 0 and y.max() < p.num_classes):
            raise environment.ClientError("channel %s: labels must be integers in [0, num_classes)" % channel)


def evaluate(model, X, y, p):
    """Test metrics in Linear Learner's names."""
    scores, labels = model.predict(X)
    out = {}
    if p.predictor_type == "binary_classifier":
        s = np.clip(scores, 1e-12, 1 - 1e-12) if model.meta["loss"] == "logistic" else None
        tp = float(((labels == 1) & (y == 1)).sum())
        fp = float(((labels == 1) & (y == 0)).sum())
        fn = float(((labels == 0) & (y == 1)).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        b2 = p.f_beta ** 2
        out["binary_classification_accuracy"] = float((labels == y).mean())
        out["precision"] = prec
        out["recall"] = rec
        out["binary_f_beta"] = (1 + b2) * prec * rec / (b2 * prec + rec) if prec + rec else 0.0
        if s is not None:
            out["objective_loss"] = float(-(y * np.log(s) + (1 - y) * np.log(1 - s)).mean())
    elif p.predictor_type == "multiclass_classifier":
        out["multiclass_accuracy"] = float((labels == y).mean())
        topk = np.argsort(-scores, axis=1)[:, : p.top_k]
        out["multiclass_top_k_accuracy"] = float((topk == y[:, None].astype(int)).any(axis=1).mean())
        out["objective_loss"] = float(-np.log(scores[np.arange(len(y)), y.astype(int)] + 1e-12).mean())
    else:
        r = scores - y
        out["mse"] = float((r * r).mean())
        out["rmse"] = float(np.sqrt(out["mse"]))
        out["absolute_loss"] = float(np.abs(r).mean())
        var = float(((y - y.mean()) ** 2).mean())
        out["r2"] = 1 - out["mse"] / var if var else 0.0
    return out


def train_algorithm():
    p = Params(environment.raw_hyperparameters())
    host = environment.resource_config().get("current_host", "algo-1")
    config = environment.input_data_config()
    if not data.has_channel("train", config):
        raise environment.ClientError("Channel 'train' is required")
    X, y, _ = data.read_channel("train", config, codecs.RECORDIO, label_size=1, feature_dim=p.feature_dim)
    _check_labels(y, p, "train")
    dim = p.feature_dim or X.shape[1]
    if X.shape[1] != dim:
        raise environment.ClientError("feature_dim is %d but the train data has %d features" % (dim, X.shape[1]))
    val = data.read_channel("validation", config, codecs.RECORDIO, label_size=1, feature_dim=dim)
    test = data.read_channel("test", config, codecs.RECORDIO, label_size=1, feature_dim=dim)
    for name, loaded in (("validation", val), ("test", test)):
        if loaded is not None:
            _check_labels(loaded[1], p, name)
            if loaded[0].shape[1] != dim:
                raise environment.ClientError("%s data has %d features, expected %d" % (name, loaded[0].shape[1], dim))

    import scipy.sparse

    sparse = scipy.sparse.issparse(X)
    scaler = Scaler(dim)
    if p.normalize_data:
        scaler.fit(X, p.num_point_for_scaler, center=not sparse)
    y_mean, y_std = 0.0, 1.0
    if p.normalize_label and p.predictor_type == "regressor":
        y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
    Xs = scaler.apply(X)
    ys = (y - y_mean) / y_std if p.predictor_type == "regressor" else y
    Xv = scaler.apply(val[0]) if val else None
    yv = ((val[1] - y_mean) / y_std if p.predictor_type == "regressor" else val[1]) if val else None
    W, b = fit(Xs, ys, Xv, yv, p, host)

    # Fold the scaling (and label normalization) into the weights: the saved model reads raw features.
    W_eff = W / scaler.std[:, None]
    b_eff = b - (scaler.mean / scaler.std) @ W
    if p.predictor_type == "regressor":
        W_eff, b_eff = W_eff * y_std, b_eff * y_std + y_mean
    meta = {
        "predictor_type": p.predictor_type,
        "feature_dim": dim,
        "num_classes": p.num_classes,
        "loss": p.loss,
        "threshold": 0.5 if p.loss == "logistic" else 0.0,
        "hyperparameters": p.raw,
    }
    model = Model(W_eff, b_eff, meta)
    if p.predictor_type == "binary_classifier":
        Xc, yc = (val[0], val[1]) if val else (X, y)
        scores, _ = model.predict(Xc)
        meta["threshold"] = _threshold(scores, yc, p)
        log.info("binary classification threshold %.4f (%s on %s data)",
                 meta["threshold"], p.criterion, "validation" if val else "training")
    if val:
        for metric, value in evaluate(model, val[0], val[1], p).items():
            _quality(host, None, "validation", metric, value, "score")
    if test:
        for metric, value in evaluate(model, test[0], test[1], p).items():
            print("#test_score (%s) : ('%s', %s)" % (host, metric, value), flush=True)
            _quality(host, None, "test", metric, value, "score")
    os.makedirs(environment.MODEL_DIR, exist_ok=True)
    model.save(os.path.join(environment.MODEL_DIR, MODEL_FILE))
    log.info("model saved to %s", os.path.join(environment.MODEL_DIR, MODEL_FILE))


# ---------------------------------------------------------------- serving

def _find_model(model_dir):
    path = os.path.join(model_dir, MODEL_FILE)
    if os.path.isfile(path):
        return path
    for name in sorted(os.listdir(model_dir)):
        candidate = os.path.join(model_dir, name)
        if os.path.isfile(candidate) and zipfile.is_zipfile(candidate):
            return candidate
    raise RuntimeError("no Linear Learner model (%s) in %s" % (MODEL_FILE, model_dir))


class Handler:
    SUPPORTED = (codecs.JSON, codecs.JSONLINES, codecs.RECORDIO, codecs.CSV)

    def load(self):
        self.model = Model.load(_find_model(environment.MODEL_DIR))

    def invoke(self, body, content_type, accept):
        accept = codecs.parse_accept(
            accept, self.SUPPORTED, os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", codecs.JSON))
        dim = self.model.meta["feature_dim"]
        X = codecs.decode_matrix(body, content_type, feature_dim=dim)
        if X.shape[1] != dim:
            raise server.BadRequest("Invalid feature dimension: expected %d features, got %d" % (dim, X.shape[1]))
        scores, labels = self.model.predict(X)
        t = self.model.predictor_type
        rows = []
        for i in range(X.shape[0]):
            score = scores[i].tolist() if t == "multiclass_classifier" else float(scores[i])
            row = {"score": score}
            if labels is not None:
                row["predicted_label"] = int(labels[i])
            rows.append(row)
        if accept == codecs.JSON:
            return json.dumps({"predictions": rows}), accept
        if accept == codecs.JSONLINES:
            return "".join(json.dumps(r) + "\n" for r in rows), accept
        if accept == codecs.RECORDIO:
            return recordio.write_label_records(rows), accept
        lines = []
        for r in rows:
            vals = r["score"] if isinstance(r["score"], list) else [r["score"]]
            lead = [r["predicted_label"]] if "predicted_label" in r else []
            lines.append(",".join(str(v) for v in lead + vals))
        return "\n".join(lines) + "\n", codecs.CSV


def train():
    environment.run_training(train_algorithm)


def serve():
    server.serve("sagebox_linear_learner:Handler")
