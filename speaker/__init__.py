"""speaker: see DESIGN.md."""
