"""``hub demo`` (the live hub on loopback) and ``hub demo --tour`` (a scripted walk through every part)."""
