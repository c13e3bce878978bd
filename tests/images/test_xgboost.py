"""Contract of the `xgboost` image (SageMaker XGBoost 1.7-1): algorithm-mode training from CSV and
libsvm channels, the per-round metric log lines, the xgboost-model artifact, serving text/csv,
libsvm and RecordIO-protobuf requests, selectable inference output, ClientError failures, and script
mode with the XGBoost default serving functions."""
import json
import os

import numpy as np

from support import Endpoint, OptMl, csv_body, fixture, libsvm_body, make_sourcedir, read_csv, run_training

IMAGE = "xgboost"


def _train(tmp_path, image, hps, channels, name="job"):
    job = OptMl(tmp_path / name, hps, channels)
    rc, logs = run_training(image, job)
    return job, rc, logs


def _csv_preds(body):
    text = body.decode().strip()
    return np.array([float(v) for v in text.replace("\n", ",").split(",")])


def test_binary_csv_trains_logs_rounds_and_serves_accurately(image, tmp_path):
    job, rc, logs = _train(tmp_path, image, {
        "objective": "binary:logistic", "num_round": "30", "max_depth": "4", "eta": "0.3",
        "eval_metric": "error,logloss",
    }, {
        "train": {"content_type": "text/csv", "files": [fixture("digits_zero", "train.csv")]},
        "validation": {"content_type": "text/csv", "files": [fixture("digits_zero", "validation.csv")]},
    })
    assert rc == 0, logs
    assert "[0]#011train-error:" in logs and "#011validation-logloss:" in logs, logs
    assert "[29]#011train-error:" in logs
    assert os.path.getsize(os.path.join(job.model_dir, "xgboost-model")) > 1000
    assert job.failure() is None

    y, X = read_csv(fixture("digits_zero", "test.csv"))
    with Endpoint(image, job.model_dir) as ep:
        ep.wait_ready()
        status, body, headers = ep.invoke(csv_body(X), "text/csv")
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/csv")
        probs = _csv_preds(body)
        assert probs.shape == y.shape
        accuracy = float(((probs > 0.5) == y).mean())
        print("xgboost digit-is-zero accuracy (csv): %.4f" % accuracy)
        assert accuracy > 0.95

        # The same rows as libsvm (0-based indices, as the CSV columns were) give the same predictions.
        status, body, _ = ep.invoke(libsvm_body(X), "text/libsvm")
        assert status == 200, body
        np.testing.assert_allclose(_csv_preds(body), probs, rtol=1e-5)

        # RecordIO-protobuf requests, JSON responses.
        status, body, _ = ep.invoke(open(fixture("digits_zero", "test.rec"), "rb").read(),
                                    "application/x-recordio-protobuf", "application/json")
        assert status == 200, body
        scores = np.array([p["score"] for p in json.loads(body)["predictions"]])
        np.testing.assert_allclose(scores, probs, rtol=1e-5)

        status, body, _ = ep.invoke("1,2,3", "text/csv")
        assert status == 400, body
        status, body, _ = ep.invoke("x", "image/png")
        assert status == 415, body


def test_answers_are_encoded_as_the_real_container_encodes_them(image, tmp_path):
    """SageMaker XGBoost 1.7-1 (algorithm mode): text/csv has one prediction per line; JSON wraps
    scores; jsonlines and recordio-protobuf fail without selectable output; Accept is matched
    whole; batch transform gets one prediction per line whatever the Accept."""
    job, rc, logs = _train(tmp_path, image, {"objective": "binary:logistic", "num_round": "5"}, {
        "train": {"content_type": "text/csv", "files": [fixture("digits_zero", "train.csv")]},
    })
    assert rc == 0, logs
    _, X = read_csv(fixture("digits_zero", "test.csv"))
    rows = csv_body(X[:3])
    with Endpoint(image, job.model_dir) as ep:
        ep.wait_ready()
        status, body, headers = ep.invoke(rows, "text/csv")
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/csv")
        text = body.decode()
        assert text.endswith("\n") and "," not in text, text
        lines = text.splitlines()
        assert len(lines) == 3
        status, body, headers = ep.invoke(rows, "text/csv", "application/json")
        assert status == 200 and headers["Content-Type"].startswith("application/json"), body
        scores = [p["score"] for p in json.loads(body)["predictions"]]
        assert lines == [repr(s) for s in scores]
        assert ep.invoke(rows, "text/csv", "*/*")[1].decode() == text
        assert ep.invoke(rows, "text/csv", "text/csv; charset=utf-8")[1].decode() == text
        for accept in ("application/jsonlines", "application/x-recordio-protobuf"):
            status, body, _ = ep.invoke(rows, "text/csv", accept)
            assert status == 500, (accept, body)
        status, body, _ = ep.invoke(rows, "text/csv", "text/csv, application/json")
        assert status == 406 and b"Accept type text/csv, application/json is not supported" in body, body
        status, body, _ = ep.invoke(b'{"instances": [1]}', "application/json")
        assert status == 415, body
        status, body, _ = ep.invoke(b"1,x,\n", "text/csv")
        assert status == 415 and b"Loading csv data failed" in body, body
        status, body, _ = ep.invoke(b"", "text/csv")
        assert (status, body) == (204, b"")
    with Endpoint(image, job.model_dir, env={"SAGEMAKER_BATCH": "true"}) as ep:
        ep.wait_ready()
        status, body, headers = ep.invoke(rows, "text/csv", "application/json")
        assert status == 200 and headers["Content-Type"].startswith("application/json"), body
        assert body.decode() == text


def test_selectable_inference_output(image, tmp_path):
    job, rc, logs = _train(tmp_path, image, {"objective": "binary:logistic", "num_round": "10"}, {
        "train": {"content_type": "text/csv", "files": [fixture("digits_zero", "train.csv")]},
    })
    assert rc == 0, logs
    y, X = read_csv(fixture("digits_zero", "test.csv"))
    env = {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability"}
    with Endpoint(image, job.model_dir, env=env) as ep:
        ep.wait_ready()
        status, body, _ = ep.invoke(csv_body(X[:20]), "text/csv", "application/json")
        assert status == 200, body
        preds = json.loads(body)["predictions"]
        assert set(preds[0]) == {"predicted_label", "probability"}
        assert [p["predicted_label"] for p in preds] == [int(p["probability"] > 0.5) for p in preds]
        assert np.mean([p["predicted_label"] == t for p, t in zip(preds, y[:20])]) > 0.9


def test_libsvm_is_the_default_and_regression_beats_the_mean(image, tmp_path):
    # No ContentType: SageMaker's XGBoost reads libsvm.
    job, rc, logs = _train(tmp_path, image, {"num_round": "60", "max_depth": "3", "eta": "0.1"}, {
        "train": {"files": [fixture("diabetes", "train.libsvm")]},
    })
    assert rc == 0, logs
    assert "#011train-rmse:" in logs
    y, _ = read_csv(fixture("diabetes", "test.csv"))
    lines = [line.split(" ", 1)[1] for line in open(fixture("diabetes", "test.libsvm")).read().splitlines()]
    with Endpoint(image, job.model_dir, env={"SAGEMAKER_BATCH": "true"}) as ep:
        ep.wait_ready()
        status, body, _ = ep.invoke("\n".join(lines), "text/libsvm")
        assert status == 200, body
        preds = np.array([float(v) for v in body.decode().split()])
    rmse = float(np.sqrt(((preds - y) ** 2).mean()))
    print("xgboost diabetes rmse %.1f (std %.1f)" % (rmse, y.std()))
    assert rmse < 0.85 * y.std()


def test_bad_hyperparameters_fail_with_client_error(image, tmp_path):
    job, rc, logs = _train(tmp_path, image, {"num_round": "5", "no_such_parameter": "1"}, {
        "train": {"content_type": "text/csv", "files": [fixture("digits_zero", "train.csv")]},
    })
    assert rc != 0
    assert job.failure().startswith("ClientError:"), job.failure()
    assert "no_such_parameter" in job.failure()

    job, rc, logs = _train(tmp_path, image, {"objective": "binary:logistic"}, {
        "train": {"content_type": "text/csv", "files": [fixture("digits_zero", "train.csv")]},
    }, name="no-num-round")
    assert rc != 0 and "num_round" in job.failure()


SCRIPT = '''
import argparse, glob, os
import numpy as np, pandas as pd, xgboost as xgb

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--num_round", type=int, default=10)
    p.add_argument("--max_depth", type=int, default=3)
    a = p.parse_args()
    data = pd.concat(pd.read_csv(f, header=None) for f in glob.glob(os.environ["SM_CHANNEL_TRAIN"] + "/*.csv")).to_numpy()
    d = xgb.DMatrix(data[:, 1:], label=data[:, 0])
    booster = xgb.train({"objective": "binary:logistic", "max_depth": a.max_depth}, d, a.num_round)
    booster.save_model(os.path.join(os.environ["SM_MODEL_DIR"], "xgboost-model"))
'''


def test_script_mode_trains_user_code_and_serves_with_defaults(image, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "entry.py").write_text(SCRIPT)
    job = OptMl(tmp_path / "job", {
        "num_round": "15", "max_depth": "3",
        "sagemaker_program": json.dumps("entry.py"),
        "sagemaker_submit_directory": json.dumps("file:///opt/ml/input/sourcedir.tar.gz"),
        "sagemaker_region": json.dumps("us-east-1"),
    }, {"train": {"content_type": "text/csv", "files": [fixture("digits_zero", "train.csv")]}})
    make_sourcedir(str(src), job.path("input", "sourcedir.tar.gz"))
    rc, logs = run_training(image, job)
    assert rc == 0, logs
    assert os.path.exists(os.path.join(job.model_dir, "xgboost-model"))

    # Serving: the SDK repacks the code under model/code and names it in SAGEMAKER_PROGRAM.
    os.makedirs(os.path.join(job.model_dir, "code"))
    (tmp_path / "job" / "model" / "code" / "entry.py").write_text(SCRIPT)
    y, X = read_csv(fixture("digits_zero", "test.csv"))
    env = {"SAGEMAKER_PROGRAM": "entry.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    with Endpoint(image, job.model_dir, env=env) as ep:
        ep.wait_ready()
        status, body, _ = ep.invoke(csv_body(X), "text/csv", "application/json")
        assert status == 200, body
        probs = np.array(json.loads(body))
        assert float(((probs > 0.5) == y).mean()) > 0.95
