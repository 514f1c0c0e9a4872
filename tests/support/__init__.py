"""Builders, checkers and plugins the tests share (import as ``support.<module>``)."""
