"""Helpers every domain uses: the warehouse interface, data-quality validation, time."""
