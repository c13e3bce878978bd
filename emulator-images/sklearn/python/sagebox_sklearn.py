"""SageMaker scikit-learn 1.2-1 script mode: `train` runs the user's entry point, `serve` hosts
the user's module with the scikit-learn container's default handlers.

Defaults (used where the user's module does not define the function):
- model_fn: none; a model_fn is required, as in SageMaker's image.
- input_fn: application/x-npy, text/csv, application/json (and JSON lines) → numpy array;
  text formats become float32.
- predict_fn: model.predict(data).
- output_fn: numpy → application/json, text/csv, application/x-npy (or JSON lines) per Accept.
"""
import numpy as np

from sagebox_container import codecs, scriptmode


def default_model_fn(model_dir):
    raise NotImplementedError(
        "Please provide a model_fn implementation. "
        "See documentation for model_fn at https://sagemaker.readthedocs.io/en/stable/frameworks/sklearn/using_sklearn.html"
    )


def default_input_fn(input_data, content_type):
    array = codecs.decode_default(input_data, content_type)
    media, _ = codecs.parse_content_type(content_type, codecs.JSON)
    return array.astype(np.float32) if media in scriptmode.UTF8_TYPES else array


def default_predict_fn(input_data, model):
    return model.predict(input_data)


def default_output_fn(prediction, accept):
    media, _ = codecs.parse_content_type(accept, codecs.JSON)
    return codecs.encode_default(prediction, media), media


class Handler(scriptmode.UserModuleHandler):
    defaults = "sagebox_sklearn"


def train():
    scriptmode.train_main()


def serve():
    scriptmode.serve_main("sagebox_sklearn:Handler")
