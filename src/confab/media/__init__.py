"""The media role: uploads, thumbnails (thumbor's URL grammar), link previews, batch jobs."""
