"""Prefect flows, tasks, sources, configuration and the ``notestruct`` command line."""
