"""Integrations with other libraries (import each module only where that library is installed)."""
