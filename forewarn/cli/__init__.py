"""The `forewarn` command line."""
