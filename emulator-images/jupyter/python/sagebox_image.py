"""This image's commands for the base entry point (sagebox_container.cli)."""
from sagebox_jupyter import default, serve, train  # noqa: F401
