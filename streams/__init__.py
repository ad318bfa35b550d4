"""The hub: Faust agents that decode, decide per recipient and deliver; wiring only."""
