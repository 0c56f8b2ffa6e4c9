"""spaCy components, rules, terminology and coders that turn note text into mentions."""
