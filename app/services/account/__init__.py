"""Accounts: sign-up, profile, password, email verification, sessions."""
