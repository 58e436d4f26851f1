"""Accounts: signup, login and logout, the password reset, the account page and the
language switch (`views`, `account_views`, `language`); who is asking (`auth`); the
server-side login sessions; passwords; what all of them do (`services`); deleting an
account (`deletion`, other features' part handed in by `create_app`) and the deleted
names held back meanwhile (`quarantine`).

May import the layers below the features (`db`, `cache`, `mail`, `limits`, `web`,
`i18n`, `lib`, `forms`, `models`, `config`); no other feature package.
"""
