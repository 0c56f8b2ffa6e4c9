"""Terminology dictionary: open and bring-your-own sources compiled into phrase matchers."""
