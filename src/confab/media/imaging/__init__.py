"""Rendering with libvips (pyvips), run inside worker processes. The only pyvips user."""
