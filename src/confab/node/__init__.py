"""What every node shares on the web side: the ASGI app shell, health, metrics, errors."""
