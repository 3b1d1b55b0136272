"""motcua-hub: an event-sourced integration hub for Vietnam's one-stop public administration."""

__all__ = ["__version__"]
__version__ = "0.1.0"
