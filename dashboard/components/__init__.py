"""Widgets shared by the dashboard's pages; each owns its session-state key."""
