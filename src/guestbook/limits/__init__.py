"""What keeps the site fair: rate limits (in memory or Redis) and the spam rules that
signup and posting share.

May import `config`, `models`, `forms`, `i18n` and `lib`; never a feature package.
"""
