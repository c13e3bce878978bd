"""The inference contract: gunicorn + Flask on :8080 with GET /ping and POST /invocations.

An image supplies a handler class (`module:Class`) with

    load(self)                                   -> None; loads /opt/ml/model, once per worker
    invoke(self, body, content_type, accept)     -> (bytes or str, mimetype)

and optionally `execution_parameters(self)` for batch transform. Errors map to HTTP statuses:
`codecs.UnsupportedContentType` → 415 (406 when it concerns Accept), `BadRequest` → 400, anything else
→ 500 with the message. /ping answers 200 once the model loaded, 500 with the load error otherwise,
so a broken model shows up as a failed health check and its traceback in the container log.

Workers: $SAGEMAKER_MODEL_SERVER_WORKERS (default: the CPUs the container may use), each with a few
threads so /ping stays responsive while a prediction runs; predictions within a worker are
serialized because xgboost and many user models are not thread-safe.
"""
import importlib
import json
import logging
import os
import sys
import threading
import traceback

from . import codecs, environment

log = logging.getLogger("sagebox.serve")


class BadRequest(ValueError):
    """The request body could not be used (wrong shape, unparsable numbers, ...)."""


def _load_handler(spec):
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)()


def _workers():
    value = os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return environment.num_cpus()


def make_app(handler):
    import flask

    app = flask.Flask("sagebox")
    state = {"error": None}
    lock = threading.Lock()
    try:
        handler.load()
        log.info("model loaded (worker %d)", os.getpid())
    except Exception as e:  # noqa: BLE001 - reported through /ping
        traceback.print_exc()
        state["error"] = "%s: %s" % (type(e).__name__, e)

    @app.route("/ping", methods=["GET"])
    def ping():
        if state["error"]:
            return flask.Response("model failed to load: %s\n" % state["error"], status=500, mimetype="text/plain")
        return flask.Response("\n", status=200, mimetype="text/plain")

    @app.route("/execution-parameters", methods=["GET"])
    def execution_parameters():
        params = {"MaxConcurrentTransforms": _workers(), "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
        extra = getattr(handler, "execution_parameters", None)
        if extra:
            params.update(extra() or {})
        return flask.Response(json.dumps(params), status=200, mimetype="application/json")

    @app.route("/invocations", methods=["POST"])
    def invocations():
        if state["error"]:
            return flask.Response("model failed to load: %s\n" % state["error"], status=500, mimetype="text/plain")
        req = flask.request
        body = req.get_data()
        content_type = req.headers.get("Content-Type", "")
        accept = req.headers.get("Accept", "")
        try:
            with lock:
                payload, mimetype = handler.invoke(body, content_type, accept)
        except codecs.UnsupportedContentType as e:
            status = 406 if "Accept" in str(e) else 415
            return flask.Response(str(e) + "\n", status=status, mimetype="text/plain")
        except (BadRequest, ValueError) as e:
            log.warning("bad request: %s", e)
            return flask.Response("Unable to evaluate payload provided: %s\n" % e, status=400, mimetype="text/plain")
        except Exception as e:  # noqa: BLE001 - the client gets the message, the log the traceback
            traceback.print_exc()
            return flask.Response("%s: %s\n" % (type(e).__name__, e), status=500, mimetype="text/plain")
        if payload is None:
            return flask.Response(status=204)
        return flask.Response(payload, status=200, mimetype=mimetype)

    return app


def serve(handler_spec):
    """Run gunicorn in the foreground; each worker builds its own handler and loads the model."""
    import gunicorn.app.base

    environment.setup_logging()
    port = os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")
    timeout = int(os.environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT", "60") or 60)

    class Application(gunicorn.app.base.BaseApplication):
        def load_config(self):
            self.cfg.set("bind", "0.0.0.0:%s" % port)
            self.cfg.set("workers", _workers())
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 4)
            self.cfg.set("timeout", max(timeout, 1))
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("keepalive", 60)
            self.cfg.set("loglevel", "info")
            self.cfg.set("errorlog", "-")

        def load(self):
            return make_app(_load_handler(handler_spec))

    log.info("serving %s on port %s with %d worker(s)", handler_spec, port, _workers())
    Application().run()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python3 -m sagebox_container.server module:HandlerClass")
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
