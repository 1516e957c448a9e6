"""Tamper-evident history: keyed hash chains over the stored events (docs/AUDIT.md)."""
