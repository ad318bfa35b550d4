"""The consent processor: covenants as data, and a pure, fail-closed decision engine."""
