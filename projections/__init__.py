"""Read models folded from the dossier events: timeline, dossier state, results sync, indicators."""
