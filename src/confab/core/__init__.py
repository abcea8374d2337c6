"""Shared kernel: settings, errors, ports and their in-memory implementations."""
