"""Media use cases: uploads, thumbnails, metadata, link previews. No framework here."""
