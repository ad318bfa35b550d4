"""Benchmarks (``make bench``). Each module here has a ``main()`` that measures one area against a baseline
measured in the same run and prints the ratio; none of them asserts a time."""
