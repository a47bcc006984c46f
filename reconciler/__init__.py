"""reconciler: see DESIGN.md."""
