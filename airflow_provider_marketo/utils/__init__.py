"""Utils of the Marketo provider."""
