"""The chat role's web boundary: HTTP API, WebSocket and the browser client."""
