"""Moderation: roles, hiding and deleting messages, blocking members, members' reports
(`views`, `report_views`, `services`), and the append-only audit log (`audit`).

May import `accounts`, `messages` and the layers below the features; never `live`.
"""
