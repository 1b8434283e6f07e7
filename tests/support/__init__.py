"""Helpers shared by test packages: imported by tests, never a test module themselves."""
