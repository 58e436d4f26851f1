"""Helpers that know nothing of the guestbook: a cache's eviction, a question shared by
concurrent requests, headers read from the ASGI scope, numbers parsed strictly.

Imports nothing of `guestbook`: every layer above may use it.
"""
