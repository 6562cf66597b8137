"""Clients of third-party services: one module per provider, errors classified transient / permanent."""
