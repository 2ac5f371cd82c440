"""The ossrag version, in one place (the package, the CLI, stores and run records read it)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
