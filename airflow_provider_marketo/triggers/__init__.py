"""Triggers of the Marketo provider."""
