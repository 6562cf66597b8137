"""The developer platform: API keys, webhooks and their deliveries."""
