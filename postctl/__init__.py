"""Administer the post database from the command line."""

__version__ = "0.1.0"
