"""The code every sagebox emulator image shares, installed into the base image.

SageMaker's containers follow two contracts: training (`train`, /opt/ml/input/config/*.json,
/opt/ml/input/data/<channel>, /opt/ml/model, /opt/ml/output/failure) and inference (`serve`,
port 8080, GET /ping, POST /invocations). This package implements both once:

- `environment`: the /opt/ml layout, the config files, and the SM_* variables the training toolkit sets.
- `recordio`: SageMaker's RecordIO-wrapped protobuf `Record` format, read and written with numpy.
- `codecs`: request/response bodies (text/csv, libsvm, JSON, JSON lines, npy, RecordIO-protobuf).
- `server`: a Flask app under gunicorn answering /ping, /invocations and /execution-parameters.
- `scriptmode`: framework script mode (sagemaker_program / sagemaker_submit_directory) for
  training and for serving with model_fn / input_fn / predict_fn / output_fn.

The algorithm images (xgboost, linear-learner, ...) add only their algorithm on top.
"""
