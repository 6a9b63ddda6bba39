"""The pure core: `plan = diff(desired, state, live)`. Nothing in this package does I/O."""
