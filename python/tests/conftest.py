"""Shared paths for the umpire Python tests (run from any directory)."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def root():
    return ROOT


@pytest.fixture
def scenario():
    return lambda name: str(ROOT / "scenarios" / name)
