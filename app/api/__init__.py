"""JSON blueprints: the public booking endpoint, /api/v1, hooks."""
