"""Business logic: services without request or g (docs/ARCHITECTURE.md, Layers)."""
