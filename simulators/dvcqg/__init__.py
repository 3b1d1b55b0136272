"""The simulated national portal: REST API, its world and the citizen's national data store."""
