"""Transfer operators: data from other systems into Marketo."""
