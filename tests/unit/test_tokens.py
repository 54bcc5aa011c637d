from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.tokens import TokenError, read_claims, sign_claims, sign_done_token, verify_done_token

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def token(secret: str = "s3cret", ttl: timedelta = timedelta(days=1)) -> str:
    return sign_done_token(
        secret,
        clinic_id="c1",
        assignment_id="a1",
        client_ref="cl1",
        occurrence=date(2026, 11, 21),
        reminder_id="r1",
        ttl=ttl,
        now=NOW,
    )


def test_round_trip() -> None:
    claims = verify_done_token("s3cret", token(), now=NOW)
    assert (claims.clinic_id, claims.assignment_id, claims.occurrence) == (
        "c1",
        "a1",
        date(2026, 11, 21),
    )


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
        verify_done_token("s3cret", mangle(token()), now=NOW)  # type: ignore[operator]
    assert info.value.kind == kind


def test_other_secret_is_refused() -> None:
    with pytest.raises(TokenError, match="signature"):
        verify_done_token("other", token(), now=NOW)


def test_expired_token_is_refused() -> None:
    with pytest.raises(TokenError) as info:
        verify_done_token("s3cret", token(ttl=timedelta(hours=1)), now=NOW + timedelta(hours=2))
    assert info.value.kind == "expired"


def test_a_token_signed_for_one_purpose_is_refused_for_another() -> None:
    with pytest.raises(TokenError) as info:
        read_claims("s3cret", "unsubscribe", token())
    assert info.value.kind == "signature"
    assert read_claims("s3cret", "unsubscribe", sign_claims("s3cret", "unsubscribe", {"a": 1}))
