"""Use cases over built parts: reconciliations, indicators, time travel."""
