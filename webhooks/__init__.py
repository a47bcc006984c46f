"""webhooks: the validating and conversion admission webhook; docs/webhook.md."""
