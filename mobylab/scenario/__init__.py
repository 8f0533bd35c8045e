"""Scenarios: one question asked of many engines (dev.try) or of a history (dev.bisect)."""
