"""Messages: the main page, writing, editing and deleting (`views`, `services`), what the
lists read (`reads`), keyset pagination, the rendered list (`lists`), profiles and
Atom feeds.

May import `accounts` and the layers below the features; never `moderation` or `live`.
"""
