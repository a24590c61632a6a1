from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def write_yaml(tmp_path):
    """Write text to a YAML file in a temporary folder and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def expect_spec_error(write_yaml):
    """Write `text`, load it with `loader`, and check the SpecError names the file and
    contains every fragment. Returns the message."""
    from yamlspec import SpecError

    def check(loader, text: str, *fragments: str) -> str:
        path = write_yaml(text)
        with pytest.raises(SpecError) as info:
            loader(path)
        message = str(info.value)
        assert str(path) in message, message
        for fragment in fragments:
            assert fragment in message, message
        return message

    return check
