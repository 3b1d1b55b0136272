"""The operator's command line, one module per command group; the demo under demo/."""
