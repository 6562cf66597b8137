"""Real, small stand-ins for outside services (identity providers, ...) that tests run on loopback."""
