"""The tensorflow image's pure parts, without TensorFlow or a container: the TF_CONFIG shapes of the
TensorFlow training toolkit, the conversions of the serving container's JavaScript front
(tensorflowServing.js), TensorFlow Serving's JSON → tensor checks (json_tensor.cc) and its number
formatting. The end-to-end behaviour is tested through the SDK in
tests/clients/test_framework_tensorflow.py."""
import json
import os
import sys

import numpy as np
import pytest

from support import ROOT

sys.path.insert(0, os.path.join(ROOT, "emulator-images", "base", "overlay", "usr", "lib", "python3", "dist-packages"))
sys.path.insert(0, os.path.join(ROOT, "emulator-images", "tensorflow", "python"))
import sagebox_tensorflow as launcher  # noqa: E402
import sagebox_tfs as tfs  # noqa: E402


def test_tf_config_for_parameter_servers_as_the_toolkit_builds_it():
    hosts = ["algo-1", "algo-2", "algo-3"]
    cluster = {"master": ["algo-1:2222"], "ps": ["algo-1:2223", "algo-2:2223", "algo-3:2223"],
               "worker": ["algo-2:2222", "algo-3:2222"]}
    assert launcher.tf_config_for_ps(hosts, "algo-1") == {
        "cluster": cluster, "environment": "cloud", "task": {"index": 0, "type": "master"}}
    assert launcher.tf_config_for_ps(hosts, "algo-3")["task"] == {"index": 1, "type": "worker"}
    assert launcher.tf_config_for_ps(hosts, "algo-3", ps_task=True)["task"] == {"index": 2, "type": "ps"}
    with pytest.raises(ValueError):
        launcher.tf_config_for_ps(["algo-1"], "algo-1", ps_task=True)


def test_tf_config_for_multi_worker_mirrored_strategy():
    assert launcher.tf_config_for_mwms(["algo-1", "algo-2"], "algo-2") == {
        "cluster": {"worker": ["algo-1:8890", "algo-2:8890"]}, "environment": "cloud",
        "task": {"index": 1, "type": "worker"}}


def test_distribution_hosts_follow_the_instance_groups():
    rc = {"current_host": "algo-2", "hosts": ["algo-1", "algo-2"], "current_group_name": "homogeneousCluster"}
    assert launcher.distribution_hosts({launcher.MWMS_ENABLED: True}, rc) == (["algo-1", "algo-2"], True)
    assert launcher.distribution_hosts({}, rc) == (["algo-1", "algo-2"], False)
    hetero = {"current_host": "algo-2", "hosts": ["algo-1", "algo-2", "algo-3"], "current_group_name": "gpu",
              "instance_groups": [{"instance_group_name": "cpu", "hosts": ["algo-1"]},
                                  {"instance_group_name": "gpu", "hosts": ["algo-2", "algo-3"]}]}
    framework = {launcher.MWMS_ENABLED: True, "sagemaker_distribution_instance_groups": ["gpu"]}
    assert launcher.distribution_hosts(framework, hetero) == (["algo-2", "algo-3"], True)


def test_model_dir_of_a_tuning_job_gets_the_job_name():
    assert launcher.model_dir_for_tuning("s3://b/out", "job-1") == "s3://b/out/job-1/model"
    assert launcher.model_dir_for_tuning("/opt/ml/model", "job-1") == "/opt/ml/model"


def test_find_models_as_the_serving_container_does(tmp_path):
    for version in ("1", "2", "export/Servo/3", "notnumeric"):
        (tmp_path / version).mkdir(parents=True)
        (tmp_path / version / "saved_model.pb").write_bytes(b"")
    assert tfs.find_models(str(tmp_path)) == [str(tmp_path), str(tmp_path / "export" / "Servo")]
    assert tfs.find_model_versions(str(tmp_path)) == [1, 2]


@pytest.mark.parametrize("body, expected", [
    ("1,2,3\n4,5,6\n", '{"instances":[[1,2,3],[4,5,6]]}'),
    ("1\n2", '{"instances":[1,2]}'),
    ("a,b,c", '{"instances":[["a","b,c"]]}'),  # the front splits at the first comma only (String.replace)
])
def test_csv_becomes_instances_as_the_front_converts_it(body, expected):
    assert tfs.csv_to_instances(body) == expected


@pytest.mark.parametrize("body, expected", [
    ('{"instances": [[1, 2]]}', '{"instances": [[1, 2]]}'),
    ('{"inputs": {"x": [1]}}', '{"inputs": {"x": [1]}}'),
    ("[1, 2]", '{"instances":[[1, 2]]}'),
    ("[[1, 2], [3, 4]]", '{"instances":[[1, 2], [3, 4]]}'),
    ("[1, 2]\n[3, 4]\n", '{"instances":[[1, 2],[3, 4]]}'),
    ('{"x": 1}', '{"instances":[{"x": 1}]}'),
])
def test_json_bodies_become_tensorflow_serving_requests(body, expected):
    assert tfs.json_to_tfs(body) == expected


def test_row_format_batches_instances_and_checks_them():
    assert tfs.tensors_from_instances([[1, 2], [3, 4.5]], {"x": "float32"}) == {"x": ([1.0, 2.0, 3.0, 4.5], [2, 2])}
    named = tfs.tensors_from_instances([{"a": 1, "b": "s"}, {"a": 2, "b": {"b64": "AAE="}}],
                                       {"a": "int64", "b": "string"})
    assert named == {"a": ([1, 2], [2]), "b": ([b"s", b"\x00\x01"], [2])}
    cases = [
        ([[1, 2], [3]], {"x": "float32"}, "Failed to process element: 1 of 'instances' list. Error: "
                                          "INVALID_ARGUMENT: Expecting tensor size: 2 but got: 1"),
        ([[1.5]], {"x": "int32"}, "JSON Value: 1.5 Type: Number is not of expected type: int32"),
        ([[True]], {"x": "float32"}, "JSON Value: true Type: True is not of expected type: float"),
        ([[16777217]], {"x": "float32"}, "Cannot convert JSON value: 16777217 to float without loss of precision."),
        ([[1]], {"a": "float32", "b": "float32"}, "instances is a plain list, but expecting list of objects"),
        ([{"a": 1}], {"a": "float32", "b": "float32"}, "must only have keys: a,b"),
        ([[[1], 2]], {"x": "float32"}, "JSON Value: 2 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"),
        ([[[1, 2], [3]]], {"x": "float32"}, "Encountered list at unexpected size: 1 at level: 1 expected size: 2"),
    ]
    for instances, inputs, message in cases:
        with pytest.raises(tfs.TFSError) as e:
            tfs.tensors_from_instances(instances, inputs)
        assert e.value.http_status == 400
        assert message in e.value.message, e.value.message


def test_columnar_format_needs_every_named_input():
    assert tfs.tensors_from_inputs([[1, 2]], {"x": "float64"}) == {"x": ([1.0, 2.0], [1, 2])}
    with pytest.raises(tfs.TFSError) as e:
        tfs.tensors_from_inputs({"a": [1]}, {"a": "float32", "b": "float32"})
    assert e.value.message == "Missing named input: b in 'inputs' object."


def test_outputs_are_written_with_tensorflow_servings_digits():
    outputs = {"probabilities": np.array([[0.1, 1.0], [0.123456789, 1e-5]], dtype=np.float32),
               "classes": np.array([1, 0], dtype=np.int64)}
    row = tfs.row_format(outputs)
    assert row == ('{"predictions": [{"classes": 1, "probabilities": [0.1, 1.0]}, '
                   '{"classes": 0, "probabilities": [0.123456791, 1e-05]}]}')
    assert json.loads(row)["predictions"][1]["probabilities"][0] == pytest.approx(0.123456791)
    assert tfs.columnar_format({"y": np.array([[2.0]], dtype=np.float64)}) == '{"outputs": [[2.0]]}'
    with pytest.raises(tfs.TFSError) as e:
        tfs.row_format({"a": np.zeros((2, 1), np.float32), "b": np.zeros((3,), np.float32)})
    assert "inconsistent batch size" in e.value.message


def test_custom_attributes_pick_model_version_and_method():
    attrs = tfs.parse_custom_attributes("tfs-model-name=other,tfs-model-version=3,tfs-method=classify,x=1")
    assert tfs.tfs_path(attrs, "model") == "/v1/models/other/versions/3:classify"
    assert tfs.tfs_path({}, "model") == "/v1/models/model:predict"
