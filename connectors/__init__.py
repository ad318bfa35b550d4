"""The connector contract partner systems plug into, its runtime, and one connector per partner."""
