"""Helpers that know nothing of the guestbook: bounded caches, a question shared by
concurrent requests, headers read from the ASGI scope, numbers parsed strictly.

May import nothing of `guestbook`: every layer above may use it.
"""
