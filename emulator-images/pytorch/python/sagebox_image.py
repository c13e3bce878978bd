"""This image's commands for the base entry point (sagebox_container.cli)."""
from sagebox_pytorch import serve, train  # noqa: F401
