"""Concrete implementations of the ports in `confab.core.ports` (and of media's ports)."""
