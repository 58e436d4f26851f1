"""Mail that never blocks a request and is never lost: the outbox, written in the
transaction of its cause (`outbox`), and the task that delivers it (`sender`).

May import `config`, `models`, `db`, `i18n` and `web`; never a feature package.
"""
