"""This image's commands for the base entry point (sagebox_container.cli)."""
from sagebox_pca import serve, train  # noqa: F401
