"""``python -m pipelines.cli``: the same as the ``notestruct`` command."""

from pipelines.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
