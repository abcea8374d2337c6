"""Confab: a chat platform with its own media service."""

__version__ = "0.1.0"
