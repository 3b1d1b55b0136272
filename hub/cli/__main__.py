"""``python -m hub.cli``: the same command line as the ``hub`` script."""

from hub.cli.main import main

main()
