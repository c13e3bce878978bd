"""Training channels as the built-in algorithms read them.

A channel is the directory /opt/ml/input/data/<name> (File mode; every non-hidden file in it and its
subdirectories, in name order). Its format is the channel's ContentType in inputdataconfig.json,
with parameters ("text/csv;label_size=1"); each algorithm names its default for channels without
one. Supported: text/csv (label columns first, `label_size` of them, default per algorithm),
text/libsvm, application/x-recordio-protobuf.
"""
import logging
import os

import numpy as np

from . import codecs, environment, recordio

log = logging.getLogger("sagebox.data")


def channel_files(channel):
    root = environment.channel_dir(channel)
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith(".manifest"):
                continue
            path = os.path.join(dirpath, name)
            if os.path.getsize(path) > 0:
                files.append(path)
    return files


def has_channel(channel, config=None):
    config = environment.input_data_config() if config is None else config
    return channel in config or os.path.isdir(environment.channel_dir(channel))


def content_type(channel, config, default):
    raw = (config.get(channel) or {}).get("ContentType") or ""
    return codecs.parse_content_type(raw, default)


def _widen(matrix, width):
    import scipy.sparse

    m = matrix.tocsr()
    return scipy.sparse.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], width))


def _stack(parts):
    import scipy.sparse

    if any(scipy.sparse.issparse(p) for p in parts):
        width = max(p.shape[1] for p in parts)
        return scipy.sparse.vstack(
            [_widen(scipy.sparse.csr_matrix(p), width) if p.shape[1] != width else scipy.sparse.csr_matrix(p)
             for p in parts]
        ).tocsr()
    widths = {p.shape[1] for p in parts}
    if len(widths) != 1:
        raise environment.ClientError("files of one channel have different numbers of columns: %s" % sorted(widths))
    return np.vstack(parts)


def read_channel(channel, config=None, default_type=codecs.RECORDIO, label_size=1, feature_dim=None,
                 extra_columns=0):
    """(X, y, extra) of a channel, or None when the channel is absent.

    `label_size` is the CSV default (a ContentType parameter overrides it); labels may be None when
    the data carries none. `extra_columns` CSV columns after the label (XGBoost's csv_weights) come
    back as `extra` (2-D) and are not features.
    """
    config = environment.input_data_config() if config is None else config
    if not has_channel(channel, config):
        return None
    files = channel_files(channel)
    if not files:
        raise environment.ClientError("channel %s has no data files" % channel)
    media, params = content_type(channel, config, default_type)
    extra = None
    if media == codecs.CSV:
        import pandas as pd

        frames = []
        for path in files:
            try:
                frames.append(pd.read_csv(path, header=None, dtype=np.float32))
            except Exception as e:
                raise environment.ClientError("could not read CSV file %s: %s" % (path, e)) from e
        data = pd.concat(frames, ignore_index=True).to_numpy(dtype=np.float32)
        try:
            label_size = int(params.get("label_size", label_size))
        except ValueError as e:
            raise environment.ClientError("invalid label_size in ContentType %s" % params) from e
        first = label_size + extra_columns
        if data.shape[1] <= first:
            raise environment.ClientError("CSV data of channel %s has no feature columns" % channel)
        y = data[:, 0] if label_size else None
        if extra_columns:
            extra = data[:, label_size:first]
        X = data[:, first:]
    elif media == codecs.LIBSVM:
        parts, labels = [], []
        for path in files:
            with open(path, "rb") as f:
                X_part, y_part = codecs.libsvm_matrix(f.read(), feature_dim)
            parts.append(X_part)
            labels.append(y_part)
        X = _stack(parts)
        y = None if any(lb is None for lb in labels) else np.concatenate(labels)
    elif media == codecs.RECORDIO:
        parts, labels = [], []
        for path in files:
            with open(path, "rb") as f:
                try:
                    X_part, y_part = recordio.read_matrix(f.read(), feature_dim)
                except ValueError as e:
                    raise environment.ClientError("%s is not valid RecordIO-protobuf: %s" % (path, e)) from e
            parts.append(X_part)
            labels.append(y_part)
        X = _stack(parts)
        y = None if any(lb is None for lb in labels) else np.concatenate(labels)
    else:
        raise environment.ClientError("content type %s of channel %s is not supported" % (media, channel))
    if X.shape[0] == 0:
        raise environment.ClientError("channel %s has no records" % channel)
    log.info("channel %s: %d records, %d features (%s)", channel, X.shape[0], X.shape[1], media)
    return X, y, extra
