"""webhooks: see DESIGN.md."""
