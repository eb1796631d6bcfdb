"""Operators of the Marketo provider."""
