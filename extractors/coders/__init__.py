"""Coders: attach further codes to mentions after extraction (entry-point group notestruct.coders)."""
