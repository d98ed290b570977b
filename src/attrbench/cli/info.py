"""``attrbench versions``: what this installation is made of."""

from __future__ import annotations

import json

from attrbench.cli.app import app
from attrbench.provenance import library_versions


@app.command()
def versions() -> None:
    """Print the versions of attrbench and the libraries that affect results, as JSON."""
    print(json.dumps(library_versions(), indent=2))
