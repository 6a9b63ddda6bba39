"""voices.yaml: reading it with positions, its JSON Schema, the checks, and the starter `init` writes."""
