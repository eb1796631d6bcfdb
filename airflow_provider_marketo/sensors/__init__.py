"""Sensors of the Marketo provider."""
