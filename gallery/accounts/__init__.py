"""Accounts: sign-up, profile, deleting an account, and the login lockout page.

Logging in, out, and changing or resetting a password are Django's own auth views
(django.contrib.auth.urls) with this project's templates; django-axes rate-limits every
authenticate() call, pages and API token alike.
"""
