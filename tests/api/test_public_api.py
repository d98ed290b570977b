"""Every name in attrbench.__all__ resolves."""

import attrbench


def test_all_public_names_resolve() -> None:
    for name in attrbench.__all__:
        assert getattr(attrbench, name) is not None, name


def test_unknown_attribute() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        attrbench.nope  # noqa: B018
