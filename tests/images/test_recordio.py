"""The images' RecordIO-protobuf codec (sagebox_container.recordio) against the real protobuf
library: SageMaker's record.proto is rebuilt here as a descriptor (no protoc, no SDK), records are
written the way sagemaker.amazon.common.write_numpy_to_dense_tensor / write_spmatrix_to_sparse_tensor
write them and read back with our codec, and the other way round. Runs on the host, no Docker."""
import os
import struct
import sys

import numpy as np
import pytest

from support import ROOT

sys.path.insert(0, os.path.join(ROOT, "emulator-images", "base", "overlay", "usr", "lib", "python3",
                                "dist-packages"))
from sagebox_container import recordio  # noqa: E402

pb = pytest.importorskip("google.protobuf")
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402


def _record_classes():
    """aialgs.data.Record and friends, as in sagemaker/amazon/record.proto (proto2, packed)."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="sagebox_test_record.proto", package="aialgs.data", syntax="proto2")

    def tensor(name, value_type):
        m = fdp.message_type.add(name=name)
        for num, fname, ftype in ((1, "values", value_type), (2, "keys", F.TYPE_UINT64), (3, "shape", F.TYPE_UINT64)):
            f = m.field.add(name=fname, number=num, type=ftype, label=F.LABEL_REPEATED)
            f.options.packed = True

    tensor("Float32Tensor", F.TYPE_FLOAT)
    tensor("Float64Tensor", F.TYPE_DOUBLE)
    tensor("Int32Tensor", F.TYPE_INT32)
    b = fdp.message_type.add(name="Bytes")
    b.field.add(name="value", number=1, type=F.TYPE_BYTES, label=F.LABEL_REPEATED)
    b.field.add(name="content_type", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    v = fdp.message_type.add(name="Value")
    v.oneof_decl.add(name="value")
    for num, fname, tname in ((2, "float32_tensor", "Float32Tensor"), (3, "float64_tensor", "Float64Tensor"),
                              (7, "int32_tensor", "Int32Tensor"), (9, "bytes", "Bytes")):
        v.field.add(name=fname, number=num, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                    type_name=".aialgs.data." + tname, oneof_index=0)
    r = fdp.message_type.add(name="Record")
    for num, fname, entry in ((1, "features", "FeaturesEntry"), (2, "label", "LabelEntry")):
        e = r.nested_type.add(name=entry)
        e.options.map_entry = True
        e.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        e.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name=".aialgs.data.Value")
        r.field.add(name=fname, number=num, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                    type_name=".aialgs.data.Record." + entry)
    for num, fname in ((3, "uid"), (4, "metadata"), (5, "configuration")):
        r.field.add(name=fname, number=num, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("aialgs.data.Record"))


Record = _record_classes()


def sdk_write_dense(array, labels):
    """What write_numpy_to_dense_tensor produces (float32 features, float32 labels)."""
    out = b""
    for row, label in zip(array, labels):
        rec = Record()
        rec.features["values"].float32_tensor.values.extend(row.tolist())
        rec.label["values"].float32_tensor.values.extend([float(label)])
        data = rec.SerializeToString()
        pad = (-len(data)) % 4
        out += struct.pack("<II", 0xCED7230A, len(data)) + data + b"\x00" * pad
    return out


def sdk_read(data):
    recs = []
    for payload in recordio.iter_records(data):
        rec = Record()
        rec.ParseFromString(payload)
        recs.append(rec)
    return recs


def test_reads_what_the_sdk_writes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 5)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0, 2], dtype=np.float32)
    got_X, got_y = recordio.read_matrix(sdk_write_dense(X, y))
    np.testing.assert_array_equal(got_X, X)
    np.testing.assert_array_equal(got_y, y)


def test_writes_what_the_sdk_reads():
    X = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    y = np.array([1, 0, 1], dtype=np.float32)
    ours = recordio.write_dense(X, y)
    assert ours == sdk_write_dense(X, y), "byte-identical to the protobuf library's serialization"
    recs = sdk_read(ours)
    assert [list(r.features["values"].float32_tensor.values) for r in recs] == X.tolist()
    assert [r.label["values"].float32_tensor.values[0] for r in recs] == y.tolist()


def test_float64_and_int32_tensors():
    X = np.array([[1.5, -2.25], [3.0, 4.125]], dtype=np.float64)
    recs = sdk_read(recordio.write_dense(X, np.array([1, -3], dtype=np.int32)))
    assert list(recs[0].features["values"].float64_tensor.values) == [1.5, -2.25]
    assert recs[1].label["values"].int32_tensor.values[0] == -3
    got_X, got_y = recordio.read_matrix(recordio.write_dense(X, np.array([1, -3], dtype=np.int32)))
    np.testing.assert_allclose(got_X, X)
    assert got_y.tolist() == [1.0, -3.0]


def test_sparse_records_round_trip():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    m = scipy_sparse.csr_matrix(np.array([[0, 2.5, 0, 0], [0, 0, 0, 1.0], [3.0, 0, 0, 0]], dtype=np.float32))
    data = recordio.write_sparse(m, np.array([1, 0, 1], dtype=np.float32))
    recs = sdk_read(data)
    assert list(recs[0].features["values"].float32_tensor.keys) == [1]
    assert list(recs[0].features["values"].float32_tensor.shape) == [4]
    X, y = recordio.read_matrix(data)
    np.testing.assert_array_equal(X.toarray(), m.toarray())


def test_response_records_carry_label_tensors():
    data = recordio.write_label_records([{"score": 0.25, "predicted_label": 1}, {"score": [0.1, 0.9]}])
    recs = sdk_read(data)
    assert recs[0].label["score"].float32_tensor.values[0] == 0.25
    assert recs[0].label["predicted_label"].float32_tensor.values[0] == 1.0
    assert list(recs[1].label["score"].float32_tensor.values) == pytest.approx([0.1, 0.9])


def test_fixture_files_are_valid_recordio():
    from support import fixture, read_csv

    X, y = recordio.read_matrix(open(fixture("digits_zero", "test.rec"), "rb").read())
    labels, feats = read_csv(fixture("digits_zero", "test.csv"))
    np.testing.assert_array_equal(X, feats.astype(np.float32))
    np.testing.assert_array_equal(y, labels)
    assert len(sdk_read(open(fixture("digits_zero", "test.rec"), "rb").read())) == len(labels)


def test_rejects_garbage():
    with pytest.raises(ValueError):
        list(recordio.iter_records(b"\x01\x02\x03\x04\x05\x06\x07\x08"))
