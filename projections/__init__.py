"""Read models folded from the dossier events: timeline, dossier state, payments, postal items, results."""
