"""The chat role: accounts, rooms, messages and real-time fan-out (see the chat issue)."""
