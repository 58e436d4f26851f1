"""Caches that are never stale: reads and whole pages kept per worker under the
database's content version (`versions`), and the whole-page cache (`page_cache`).

May import `config`, `models`, `db`, `web`, `i18n` and `lib`; nothing of a feature.
"""
