"""The results sync: digitised results to the citizen's national data store, and their reconciliation."""
