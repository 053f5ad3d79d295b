"""Users and devices use cases: each function is one transaction on a session it is given."""
