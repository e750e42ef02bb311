"""Fixtures: small datasets cut from the real ones, and the real ones imported once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recgpt_domain.catalogue import CatalogueManifest
from recgpt_domain.datasets.importer import import_dataset
from tests.recgpt_domain.datasets.dataset_subsets import movielens_subset, unisrec_subset


@pytest.fixture(scope="session")
def _small_unisrec_master(amazon_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unisrec_subset(amazon_dir, tmp_path_factory.mktemp("unisrec") / "tiny", "Tiny", range(10))


@pytest.fixture(scope="session")
def _small_movielens_master(movielens_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("movielens") / "tiny"
    return movielens_subset(movielens_dir, out, [1, 2, 3, 5, 23])


@pytest.fixture
def small_unisrec(_small_unisrec_master: Path, tmp_path: Path) -> Path:
    """Users 0-9 of the Amazon dataset (those present), re-indexed, as a dataset named 'Tiny'."""
    return Path(shutil.copytree(_small_unisrec_master, tmp_path / "tiny-unisrec"))


@pytest.fixture
def small_movielens(_small_movielens_master: Path, tmp_path: Path) -> Path:
    """Users 1, 2, 3, 5 and 23 (who wrote a tag) of MovieLens, and the movies they touched."""
    return Path(shutil.copytree(_small_movielens_master, tmp_path / "tiny-movielens"))


@pytest.fixture(scope="session")
def amazon_catalogue(
    amazon_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, CatalogueManifest]:
    out = tmp_path_factory.mktemp("amazon") / "catalogue"
    return out, import_dataset(amazon_dir, out)


@pytest.fixture(scope="session")
def movielens_catalogue(
    movielens_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, CatalogueManifest]:
    out = tmp_path_factory.mktemp("movielens") / "catalogue"
    return out, import_dataset(movielens_dir, out)
