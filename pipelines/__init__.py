"""Flows, tasks, configuration and command line of notestruct."""
