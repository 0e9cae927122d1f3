import stat

import pytest

from bloom import Secret, SecretError


def test_generated_secrets_are_32_random_bytes():
    a, b = Secret.generate(), Secret.generate()
    assert len(a.key_bytes) == 32
    assert a != b


def test_write_is_owner_only_and_round_trips(tmp_path):
    s = Secret.generate()
    path = s.write(tmp_path / "k.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Secret.from_file(path) == s


def test_write_refuses_to_overwrite(tmp_path):
    Secret.generate().write(tmp_path / "k.key")
    with pytest.raises(SecretError, match="already exists"):
        Secret.generate().write(tmp_path / "k.key")


def test_raw_32_byte_file_is_accepted(tmp_path):
    (tmp_path / "raw").write_bytes(bytes(range(32)))
    assert Secret.from_file(tmp_path / "raw") == Secret(bytes(range(32)))


@pytest.mark.parametrize("content", [b"abc", bytes(31), bytes(33), b"zz" * 32, "é".encode() * 40])
def test_wrong_size_or_form_is_refused(tmp_path, content):
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(SecretError, match=r"32 bytes|hex"):
        Secret.from_file(tmp_path / "bad")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SecretError, match="does not exist"):
        Secret.from_file(tmp_path / "nope.key")


def test_env_variable(monkeypatch):
    monkeypatch.setenv("CASELINK_SECRET", bytes(range(32)).hex())
    assert Secret.resolve(None) == Secret(bytes(range(32)))
    monkeypatch.setenv("CASELINK_SECRET", "abcd")
    with pytest.raises(SecretError, match="CASELINK_SECRET"):
        Secret.resolve(None)


def test_no_secret_at_all_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("CASELINK_SECRET", raising=False)
    with pytest.raises(SecretError, match="--secret"):
        Secret.resolve(None)


def test_repr_never_shows_the_key():
    s = Secret(bytes(range(32)))
    assert bytes(range(32)).hex() not in repr(s)
    assert bytes(range(32)).hex()[:8] not in str(s)
