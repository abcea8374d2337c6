"""Media domain: the options grammar, signing, and what a render is asked to do."""
