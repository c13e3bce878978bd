"""The public sample buckets sagebox seeds at startup (`sagemaker-sample-files`,
`sagemaker-example-files-prod-<region>`, `example-notebooks-data-config`), read with boto3 and the
SageMaker SDK the way the official examples read them: exact key sets, each dataset parsed in the
example's own way, the README's table listing every key, and the seeding rules across a restart
(a replaced object is kept, a deleted one comes back)."""

import gzip
import os
import pickle
import re
import signal
from io import BytesIO

import numpy as np
import pandas as pd
import pytest

from support import REGION

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "..", "..", "README.md")

DATASETS = {
    "datasets/image/MNIST/mnist.pkl.gz",
    "datasets/image/MNIST/train-images-idx3-ubyte.gz",
    "datasets/image/MNIST/train-labels-idx1-ubyte.gz",
    "datasets/image/MNIST/t10k-images-idx3-ubyte.gz",
    "datasets/image/MNIST/t10k-labels-idx1-ubyte.gz",
    "datasets/tabular/uci_abalone/abalone.libsvm",
    "datasets/tabular/uci_abalone/train/abalone.train",
    "datasets/tabular/uci_abalone/validation/abalone.validation",
    "datasets/tabular/uci_abalone/test/abalone.test",
    "datasets/tabular/iris/iris.data",
    "datasets/tabular/breast_cancer/wdbc.csv",
}
DATA_BUCKETS = ["sagemaker-sample-files", f"sagemaker-example-files-prod-{REGION}"]
CONFIG_BUCKET = "example-notebooks-data-config"
STAND_INS = {"mnist", "ubyte", "abalone"}  # keys whose source must say they stand in


def keys_of(s3, bucket):
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def body(s3, bucket, key) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_every_bucket_holds_exactly_the_seeded_keys(s3):
    for bucket in DATA_BUCKETS:
        assert keys_of(s3, bucket) == DATASETS, bucket
    assert keys_of(s3, CONFIG_BUCKET) == {"config/data_config.json"}
    for bucket in DATA_BUCKETS:
        for key in DATASETS:
            source = s3.head_object(Bucket=bucket, Key=key)["Metadata"]["source"]
            stand_in = any(word in key.lower() for word in STAND_INS)
            assert ("stand-in" in source) == stand_in, (bucket, key, source)


@pytest.mark.parametrize("bucket", DATA_BUCKETS)
def test_iris_reads_as_the_sklearn_script_mode_example_reads_it(s3, bucket, tmp_path):
    path = tmp_path / "iris.csv"
    s3.download_file(bucket, "datasets/tabular/iris/iris.data", str(path))
    df = pd.read_csv(path, header=None)
    assert df.shape == (150, 5)
    assert df[4].value_counts().to_dict() == {"Iris-setosa": 50, "Iris-versicolor": 50, "Iris-virginica": 50}
    df[4] = df[4].map({"Iris-setosa": 0, "Iris-versicolor": 1, "Iris-virginica": 2})
    iris = df[[4, 0, 1, 2, 3]].to_numpy()
    assert iris.dtype == np.float64 and not np.isnan(iris).any()
    assert list(iris[0]) == [0.0, 5.1, 3.5, 1.4, 0.2]  # UCI's first row


@pytest.mark.parametrize("bucket", DATA_BUCKETS)
def test_wdbc_has_uci_layout(s3, bucket):
    df = pd.read_csv(BytesIO(body(s3, bucket, "datasets/tabular/breast_cancer/wdbc.csv")), header=None)
    assert df.shape == (569, 32)
    assert df[1].value_counts().to_dict() == {"B": 357, "M": 212}
    assert df[0].is_unique
    assert df.iloc[0, 2:6].tolist() == [17.99, 10.38, 122.8, 1001.0]  # UCI's first patient


@pytest.mark.parametrize("bucket", DATA_BUCKETS)
def test_mnist_pickle_reads_as_linear_learner_pca_and_kmeans_read_it(s3, bucket, tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    s3.download_file(bucket, "datasets/image/MNIST/mnist.pkl.gz", str(path))
    with gzip.open(path, "rb") as f:
        train_set, valid_set, test_set = pickle.load(f, encoding="latin1")
    for X, y in (train_set, valid_set, test_set):
        assert X.dtype == np.float32 and X.shape[1] == 784 and 0.0 <= X.min() and X.max() <= 1.0
        assert y.shape == (X.shape[0],) and set(np.unique(y)) == set(range(10))
    assert sum(len(s[1]) for s in (train_set, valid_set, test_set)) == 1797


@pytest.mark.parametrize("bucket", DATA_BUCKETS)
def test_mnist_idx_files_read_as_the_pytorch_and_tensorflow_examples_read_them(s3, bucket, tmp_path):
    sizes = {}
    for split in ("train", "t10k"):
        for kind, offset in (("images-idx3", 16), ("labels-idx1", 8)):
            key = f"datasets/image/MNIST/{split}-{kind}-ubyte.gz"
            dest = tmp_path / f"{split}-{kind}-ubyte.gz"
            s3.download_file(bucket, key, str(dest))
            with gzip.open(dest, "rb") as f:
                raw = f.read()
            magic, count = int.from_bytes(raw[0:4], "big"), int.from_bytes(raw[4:8], "big")
            assert magic == (2051 if kind.startswith("images") else 2049), key
            data = np.frombuffer(raw, np.uint8, offset=offset)
            if kind.startswith("images"):
                assert raw[8:16] == (28).to_bytes(4, "big") * 2
                images = data.reshape(-1, 28, 28)
                assert images.shape[0] == count and images.max() == 255
                sizes[split] = count
            else:
                assert data.shape == (count,) and count == sizes[split]
                assert set(np.unique(data)) == set(range(10))
    assert sizes == {"train": 1437, "t10k": 360}


@pytest.mark.parametrize("bucket", DATA_BUCKETS)
def test_abalone_libsvm_and_splits(s3, bucket):
    def rows(key):
        lines = body(s3, bucket, key).decode().splitlines()
        parsed = []
        for line in lines:
            label, *features = line.split()
            indices = [int(f.split(":")[0]) for f in features]
            assert indices == sorted(indices) and indices[0] >= 1, line  # libsvm: 1-based, ascending
            parsed.append(float(label))
        return parsed

    whole = rows("datasets/tabular/uci_abalone/abalone.libsvm")
    parts = [rows(f"datasets/tabular/uci_abalone/{s}/abalone.{s}") for s in ("train", "validation", "test")]
    assert len(whole) == 442 and [len(p) for p in parts] == [309, 66, 67]
    assert sorted(sum(parts, [])) == sorted(whole)


def test_kmeans_example_finds_its_data_bucket_through_the_sdk(sdk_session):
    from sagemaker.utils import S3DataConfig

    data_bucket = S3DataConfig(sdk_session, CONFIG_BUCKET, "config/data_config.json").get_data_bucket()
    assert data_bucket == "sagemaker-sample-files"


def test_readme_lists_every_seeded_key():
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    section = readme[readme.index("**Examples and sample data.**"):]
    section = section[:section.index("\n\n", section.index("| key |"))]
    listed = set(re.findall(r"`((?:datasets|config)/[^`]+)`", section))
    assert DATASETS | {"config/data_config.json"} <= listed, sorted(DATASETS - listed)


def test_seeding_follows_the_region_and_keeps_user_changes(spawn_sagebox, client_factory):
    server = spawn_sagebox("--region", "eu-west-1")
    s3 = client_factory("s3", server.url, region_name="eu-west-1")
    regional = "sagemaker-example-files-prod-eu-west-1"
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert names == {"sagemaker-sample-files", regional, CONFIG_BUCKET}
    assert keys_of(s3, regional) == DATASETS
    s3.put_object(Bucket=regional, Key="datasets/tabular/iris/iris.data", Body=b"mine\n")
    s3.delete_object(Bucket="sagemaker-sample-files", Key="datasets/tabular/iris/iris.data")
    server.restart(signal.SIGTERM)
    assert body(s3, regional, "datasets/tabular/iris/iris.data") == b"mine\n"
    assert keys_of(s3, "sagemaker-sample-files") == DATASETS
    assert body(s3, "sagemaker-sample-files", "datasets/tabular/iris/iris.data").startswith(b"5.1,3.5,1.4,0.2,Iris-setosa\n")
