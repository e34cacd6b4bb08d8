"""Helpers shared by test files: scenario builders, fake venues, a FIX client, CLI checks."""
