"""LLM extraction: a grounded, cached, governed extractor behind any chat-completions server."""
