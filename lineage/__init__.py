"""Lineage: the tamper-evident record of every decision and delivery, and the answers compliance needs."""
