"""`confab thumbs`: the batch thumbnail pipeline (producers, bounded queue, renderers)."""
