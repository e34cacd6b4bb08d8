"""Tests of the exchange side (venues/)."""
