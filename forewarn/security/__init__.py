"""Passwords, tokens, roles and rate limits."""
