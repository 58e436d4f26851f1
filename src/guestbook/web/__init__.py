"""The path of a request, a feature's view aside: the ordered steps (`pipeline`), what a
request must be before any work (`guards`), CSRF, cookies, security headers, safe
redirects, ETags and 304s, error pages, request ids, probes, the countdown on `g`, and
the templates' filters.

May import `config`, `models`, `db`, `i18n` and `lib`; never a feature package.
"""
