"""``python -m attrbench`` runs the CLI."""

from attrbench.cli import main

main()
