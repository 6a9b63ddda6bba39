"""The state document's home: the local backend, the lock helpers and the journal that writes it."""
