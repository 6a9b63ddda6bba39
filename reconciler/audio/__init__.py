"""Source audio: probing and hashing, the service's rules, the simulated review, and sample synthesis."""
