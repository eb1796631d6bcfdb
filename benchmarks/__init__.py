"""Benchmarks of the provider: ``.venv/bin/python -m benchmarks.run [--quick]`` runs them all.

Every benchmark compares our code with a baseline measured in the same run on the same generated
data, and reports the ratio: the machines are shared and noisy, so absolute times mean little.
"""
