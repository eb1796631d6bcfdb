"""Hooks of the Marketo provider."""
