"""What the test modules share: the simulator connection, call counts, files, task contexts, internals.

Test modules import helpers from here only, never from one another or from a ``conftest``.
"""
