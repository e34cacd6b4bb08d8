"""Tests of the client side (strategies/)."""
