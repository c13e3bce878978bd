"""One sagebox server process, started from Python: on a free loopback port, with its own data
directory and log file. The pytest plugin's fixtures are made of these; scripts can use one as a
context manager:

    with sagebox.Server("/tmp/sb-data") as server:
        server.client("s3").create_bucket(Bucket="data")
"""

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, Optional

from ._binary import find_binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """Linux: have the kernel SIGKILL the server if the Python process dies without stopping it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort: not Linux, or no libc by that name
        pass


class Server:
    """A sagebox process on 127.0.0.1 with its own data directory. It can be stopped with any
    signal and started again on the same port and data directory."""

    def __init__(self, data_dir, log_path=None, extra_args: Iterable[str] = (),
                 binary=None, port: Optional[int] = None):
        self.binary = Path(binary) if binary else find_binary()
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path) if log_path else self.data_dir.parent / (
            self.data_dir.name + ".log")
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.proc: Optional[subprocess.Popen] = None
        self._env: Optional[Dict[str, str]] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> "Server":
        """Starts the process and waits until /_sagebox/health answers 200."""
        if not self.binary.exists():
            raise RuntimeError(f"sagebox binary not found at {self.binary}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== starting sagebox on {self.url} ===\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(self.binary), "serve", "--bind", f"127.0.0.1:{self.port}",
                 "--data-dir", str(self.data_dir), *self.extra_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                env={**os.environ, "NO_COLOR": "1",
                     "SAGEBOX_LOG": os.environ.get("SAGEBOX_LOG", "debug")},
            )
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"sagebox exited with {self.proc.returncode} before it was ready:\n"
                    f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/_sagebox/health", timeout=2) as r:
                    if r.status == 200:
                        return self
                    last = f"HTTP {r.status}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except (OSError, urllib.error.URLError) as e:
                last = repr(e)
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"sagebox not healthy after {timeout}s ({last}):\n{self.log_tail()}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 15.0):
        """Sends `sig` and waits for the process to end; returns its exit status (negative:
        killed by that signal). A process that outlives the timeout is killed and an error is
        raised."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(
                f"sagebox did not exit within {timeout}s of {sig!r}:\n{self.log_tail()}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self, sig=signal.SIGTERM) -> "Server":
        """Stops with `sig`, then starts again on the same port and data directory."""
        self.stop(sig)
        return self.start()

    def remove_containers(self) -> str:
        """Removes every container, network and volume this data directory's server started
        (endpoints and notebook volumes outlive a stopped server by design). Returns what
        `sagebox purge` said."""
        proc = subprocess.run(
            [str(self.binary), "purge", "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        return (proc.stdout + proc.stderr).strip()

    def close(self):
        """Stops the server and removes what it started in Docker."""
        self.kill()
        self.remove_containers()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def log_tail(self, limit: int = 20000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return text[-limit:]

    # -- clients ---------------------------------------------------------------------------

    @property
    def env(self) -> Dict[str, str]:
        """The variables that point AWS clients here, as `sagebox env` prints them
        (AWS_ENDPOINT_URL, region, keys, the SageMaker SDK's defaults file)."""
        if self._env is None:
            proc = subprocess.run(
                [str(self.binary), "env", "--bind", f"127.0.0.1:{self.port}",
                 "--data-dir", str(self.data_dir), *self._env_args()],
                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                raise RuntimeError(f"`sagebox env` failed: {proc.stderr.strip()}")
            env = {}
            for line in proc.stdout.splitlines():
                words = shlex.split(line)
                if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                    key, value = words[1].split("=", 1)
                    env[key] = value
            self._env = env
        return dict(self._env)

    def _env_args(self):
        """The serve flags that change what `sagebox env` prints (region, account)."""
        keep, args = ("--region", "--account-id"), []
        for i, a in enumerate(self.extra_args):
            if a in keep and i + 1 < len(self.extra_args):
                args += [a, self.extra_args[i + 1]]
            elif any(a.startswith(k + "=") for k in keep):
                args.append(a)
        return args

    def session(self, **kwargs):
        """A boto3 Session with this server's region and keys (boto3 must be installed)."""
        import boto3

        env = self.env
        kwargs.setdefault("aws_access_key_id", env["AWS_ACCESS_KEY_ID"])
        kwargs.setdefault("aws_secret_access_key", env["AWS_SECRET_ACCESS_KEY"])
        kwargs.setdefault("region_name", env["AWS_DEFAULT_REGION"])
        return boto3.Session(**kwargs)

    def client(self, service: str, **kwargs):
        """A boto3 client for `service` pointed at this server."""
        kwargs.setdefault("endpoint_url", self.url)
        return self.session().client(service, **kwargs)
