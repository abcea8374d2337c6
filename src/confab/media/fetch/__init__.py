"""Safe fetching of web sources: SSRF-proof resolution, caps, timeouts, limits."""
