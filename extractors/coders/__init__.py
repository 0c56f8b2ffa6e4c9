"""Coders: add codes to mentions after extraction (entry-point group notestruct.coders)."""
