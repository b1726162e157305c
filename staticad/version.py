"""The package version (one definition: the cache key and the CLI read it here)."""
__version__ = "0.1.0"
