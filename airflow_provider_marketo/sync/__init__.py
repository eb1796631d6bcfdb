"""Change-only sync and list mirroring: keys, the diff against committed state, the state itself."""
