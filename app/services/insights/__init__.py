"""Page analytics: recorded views and their daily rollups."""
