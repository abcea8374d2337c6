"""Chat fan-out benchmark: Confab against python-socketio and a bare `websockets` server."""
