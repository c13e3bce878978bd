"""The pytest plugin (entry point `pytest11`, loaded when the sagebox wheel is installed):

- `sagebox`: one server for the test session (per xdist worker), on a free port with a temporary
  data directory; its variables (AWS_ENDPOINT_URL, region, keys, the SageMaker SDK's defaults
  file) are exported to the test process while it runs. `sagebox.url`, `sagebox.client("s3")`,
  `sagebox.session()` (a boto3 Session).
- `sagebox_fresh`: a server of the test's own, stopped when the test ends.
- `sagebox_spawn`: `sagebox_spawn("--auth", "strict", …)` starts servers with extra flags.

Options: `--sagebox-bin PATH` (else SAGEBOX_BIN, else the wheel's binary, else PATH) and
`--sagebox-keep` (leave data directories and containers in place for a look afterwards). At
teardown every container, network and volume a server started is removed (found by its owner
label); when a test fails, the tail of each running server's log is attached to its report.
"""

import os

import pytest

from ._binary import find_binary
from .server import Server

_running = []
# What teardowns had to say (kept directories, removals), shown in the terminal summary: output
# during a teardown is captured.
_notes = []


def pytest_addoption(parser):
    group = parser.getgroup("sagebox")
    group.addoption("--sagebox-bin", default=None, metavar="PATH",
                    help="the sagebox binary the fixtures start (default: SAGEBOX_BIN, the "
                         "wheel's binary, then PATH)")
    group.addoption("--sagebox-keep", action="store_true", default=False,
                    help="keep the servers' data directories and containers after the tests")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in list(_running):
            report.sections.append(
                (f"sagebox log ({server.url}, data dir {server.data_dir})", server.log_tail(8000)))


def pytest_terminal_summary(terminalreporter):
    if _notes:
        terminalreporter.section("sagebox")
        for note in _notes:
            terminalreporter.write_line(note)
        _notes.clear()


class Servers:
    """Starts servers for one fixture and ends them at its teardown; for a fixture of another
    scope than the plugin's (a module-scoped server with extra flags, say):

        @pytest.fixture(scope="module")
        def tuned(request, tmp_path_factory):
            servers = Servers(request.config, tmp_path_factory)
            yield servers.start("tuned", ["--gpu-fallback", "cpu"])
            servers.end()
    """

    def __init__(self, config, tmp_path_factory):
        self.binary = find_binary(config.getoption("sagebox_bin"))
        self.keep = config.getoption("sagebox_keep")
        self.tmp = tmp_path_factory
        self.mine = []

    def start(self, name, extra_args=()):
        d = self.tmp.mktemp(name)
        server = Server(d / "data", d / "sagebox.log", extra_args, binary=self.binary)
        _running.append(server)
        self.mine.append(server)
        try:
            server.start()
        except RuntimeError as e:
            server.kill()
            pytest.fail(str(e), pytrace=False)
        return server

    def end(self):
        for server in self.mine:
            server.kill()
            if self.keep:
                self._say(f"sagebox: kept {server.data_dir} and its containers "
                          f"(log: {server.log_path})")
            else:
                said = server.remove_containers()
                if said:
                    self._say(said)
            if server in _running:
                _running.remove(server)

    @staticmethod
    def _say(text):
        _notes.append(text)


@pytest.fixture(scope="session")
def sagebox(request, tmp_path_factory):
    """The session's sagebox server, its variables exported while the session runs."""
    starter = Servers(request.config, tmp_path_factory)
    server = starter.start("sagebox")
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    yield server
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    starter.end()


@pytest.fixture
def sagebox_spawn(request, tmp_path_factory):
    """spawn(*extra_serve_flags) -> a started Server of the test's own, ended with the test."""
    starter = Servers(request.config, tmp_path_factory)
    yield lambda *extra_args: starter.start("sagebox-private", extra_args)
    starter.end()


@pytest.fixture
def sagebox_fresh(sagebox_spawn):
    """A server of this test's own (empty data directory), ended with the test."""
    return sagebox_spawn()
