from __future__ import annotations

import pytest

from shared.tokens import TokenError, read_claims, sign_claims

CLAIMS = {
    "clinic_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "client_ref": "c-1",
    "channel": "email",
}


def token(secrets: list[str] | None = None) -> str:
    return sign_claims(secrets or ["s3cret-newest"], "unsubscribe", CLAIMS)


def test_round_trip() -> None:
    assert read_claims(["s3cret-newest"], "unsubscribe", token()) == CLAIMS


@pytest.mark.parametrize(
    ("mangle", "kind"),
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "signature"),
        (lambda t: "x" + t, "signature"),
        (lambda t: t.split(".")[0], "malformed"),
        (lambda t: "", "malformed"),
    ],
)
def test_tampered_tokens_are_refused(mangle: object, kind: str) -> None:
    with pytest.raises(TokenError) as info:
        read_claims(["s3cret-newest"], "unsubscribe", mangle(token()))  # type: ignore[operator]
    assert info.value.kind == kind


def test_rotation_newest_signs_and_every_secret_verifies() -> None:
    old = token(["s3cret-old"])
    rotated = ["s3cret-newest", "s3cret-old"]
    assert read_claims(rotated, "unsubscribe", old) == CLAIMS
    fresh = token(rotated)
    assert read_claims(["s3cret-newest"], "unsubscribe", fresh) == CLAIMS
    with pytest.raises(TokenError, match="signature"):
        read_claims(["s3cret-old"], "unsubscribe", fresh)


def test_other_secret_is_refused() -> None:
    with pytest.raises(TokenError, match="signature"):
        read_claims(["other"], "unsubscribe", token())


def test_a_token_signed_for_one_purpose_is_refused_for_another() -> None:
    with pytest.raises(TokenError) as info:
        read_claims(["s3cret-newest"], "done", token())
    assert info.value.kind == "signature"
