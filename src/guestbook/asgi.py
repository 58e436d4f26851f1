"""The entry point for ASGI servers: `hypercorn guestbook.asgi:app`.

The only module-level app, made from the environment when a server imports it.
"""

from guestbook import create_app

app = create_app()
