"""Shared fixtures: tiny GGUF models written once per test session, and engines loaded on them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import tinymodels  # noqa: E402


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_pair(models_dir: Path) -> tuple[Path, Path]:
    return tinymodels.make_pair(models_dir)


@pytest.fixture(scope="session")
def tiny_target(tiny_pair: tuple[Path, Path]) -> Path:
    return tiny_pair[0]


@pytest.fixture(scope="session")
def tiny_draft(tiny_pair: tuple[Path, Path]) -> Path:
    return tiny_pair[1]


@pytest.fixture(scope="session")
def renamed_token_model(models_dir: Path) -> Path:
    """Same shape as the target, but token 300 has another text: llama.cpp would refuse the pair."""
    return tinymodels.write_model(models_dir / "renamed.gguf", tinymodels.TinySpec(seed=3, renamed={300: "\u2581zzz"}))


@pytest.fixture(scope="session")
def bigger_vocab_model(models_dir: Path) -> Path:
    return tinymodels.write_model(models_dir / "bigger-vocab.gguf", tinymodels.TinySpec(seed=4, extra_tokens=200))


@pytest.fixture(scope="session")
def not_gguf(models_dir: Path) -> Path:
    p = models_dir / "notes.gguf"
    p.write_text("these are notes, not a model\n")
    return p


@pytest.fixture(scope="session")
def truncated_gguf(models_dir: Path, tiny_target: Path) -> Path:
    p = models_dir / "truncated.gguf"
    data = tiny_target.read_bytes()
    p.write_bytes(data[: len(data) * 2 // 3])
    return p


@pytest.fixture(scope="module")
def engine(tiny_target: Path, tiny_draft: Path) -> Iterator:
    from workbench.engine.models import LoadOptions
    from workbench.engine.session import Engine

    e = Engine.load(tiny_target, tiny_draft, LoadOptions(n_ctx=512, n_threads=2))
    yield e
    e.close()



@pytest.fixture(scope="session")
def tiny_moe(models_dir: Path) -> Path:
    """A llama-architecture Mixture-of-Experts model: 4 experts, 2 used per token."""
    return tinymodels.write_model(models_dir / "tiny-moe.gguf", tinymodels.TinySpec(seed=5, n_expert=4, n_expert_used=2))


@pytest.fixture(scope="session")
def tiny_mamba(models_dir: Path) -> Path:
    """A Mamba (recurrent) model over the llama models' vocabulary: tiny-draft.gguf can draft for it."""
    return tinymodels.write_mamba(models_dir / "tiny-mamba.gguf")
