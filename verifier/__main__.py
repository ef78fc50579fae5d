"""``python -m verifier``: the same as the ``cvm-verifier`` command."""

from .cli import run

run()
