"""Twilio webhooks (status callbacks, inbound SMS) and the email one-click unsubscribe.

Every Twilio request must carry a valid X-Twilio-Signature over our public URL and
its form parameters (forged => 403). Inbound keywords: STOP and its synonyms opt the
number out at once, START/UNSTOP opt in, HELP answers with the clinic's help text,
DONE reports completion of the latest reminded occurrence for that number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from twilio.request_validator import RequestValidator

from notifier.callback_url import CallbackRef, callback_ref
from notifier.keywords import Keyword, KeywordMatch, recognise
from notifier.runtime import Runtime
from notifier.statuses import StatusReport, announce_status
from notifier.twilio_status import map_status
from notifier.unsubscribe import (
    UNSUBSCRIBE_PATH,
    done_page,
    page_language_of,
    question_page,
    verify_unsubscribe,
)
from notifier.unsubscribe import applies as unsubscribe_applies
from shared.contracts import (
    Channel,
    CompletionReported,
    CompletionSource,
    ConsentChanged,
)
from shared.logging import get_logger
from shared.messages.phrasing import Replies
from shared.messages.replies import replies, reply_language
from shared.service import Service
from shared.settings import secret_values

log = get_logger("notifier.webhooks")
TWIML = "application/xml"
MAX_BODY = 64 * 1024


def twiml(message: str | None = None) -> Response:
    inner = f"<Message>{escape(message)}</Message>" if message else ""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'
    return Response(body, media_type=TWIML)


async def bounded_body(request: Request, content_type: str) -> bytes:
    """A provider callback's body: of the type it must have, and not over ``MAX_BODY``."""
    if content_type not in request.headers.get("content-type", ""):
        raise HTTPException(415, f"expected {content_type}")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(413, "body too large")
    return raw


async def signed_form(request: Request, runtime: Runtime) -> dict[str, str]:
    """The form parameters, if the request really comes from Twilio."""
    raw = await bounded_body(request, "application/x-www-form-urlencoded")
    try:
        params = dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=bool(raw)))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, "malformed form body") from exc
    url = runtime.settings.webhook_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += f"?{request.url.query}"
    validator = RequestValidator(runtime.settings.twilio_auth_token.get_secret_value())
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not validator.validate(url, params, signature):
        log.warning("refused a request with a bad Twilio signature", path=request.url.path)
        raise HTTPException(403, "invalid X-Twilio-Signature")
    return params


def require(params: dict[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise HTTPException(400, f"missing form fields: {', '.join(missing)}")
    return [params[n] for n in names]


def add_routes(app: FastAPI, service: Service, runtime: Runtime) -> None:
    router = APIRouter()

    @router.post("/webhooks/twilio/status")
    async def twilio_status(request: Request) -> Response:
        params = await signed_form(request, runtime)
        sid, raw_status = require(params, "MessageSid", "MessageStatus")
        error_code = params.get("ErrorCode") or None
        status = map_status(raw_status, error_code)
        if status is None:
            return Response(status_code=204)
        # The URL names the reminder (signed with it); only a message sent by a release
        # before URLs did is looked up.
        ref = callback_ref(request.query_params) or await _sent_before(runtime, sid)
        report = StatusReport("twilio", sid, status, error_code, ref, params.get("To"))
        await announce_status(service, runtime, report)
        return Response(status_code=204)

    @router.post("/webhooks/twilio/inbound")
    async def twilio_inbound(request: Request) -> Response:
        params = await signed_form(request, runtime)
        (phone,) = require(params, "From")
        keyword = recognise(params.get("Body", ""))
        return await handle_keyword(service, runtime, phone, keyword)

    @router.get(UNSUBSCRIBE_PATH + "/{token}")
    async def unsubscribe_page(token: str, request: Request) -> Response:
        """A person who opens the link sees a button; nothing changes on GET, because
        mail scanners and link previews fetch links nobody meant to click."""
        claims = verify_unsubscribe(secret_values(runtime.settings.link_secrets), token)
        if claims is None:
            raise HTTPException(400, "invalid unsubscribe link")
        language = await page_language_of(runtime.directory, claims, _accepted(request))
        return HTMLResponse(question_page(language), headers={"Cache-Control": "no-store"})

    @router.post(UNSUBSCRIBE_PATH + "/{token}")
    async def unsubscribe(token: str, request: Request) -> Response:
        claims = verify_unsubscribe(secret_values(runtime.settings.link_secrets), token)
        if claims is None:
            raise HTTPException(400, "invalid unsubscribe link")
        language = await page_language_of(runtime.directory, claims, _accepted(request))
        done = HTMLResponse(done_page(language), headers={"Cache-Control": "no-store"})
        if not await unsubscribe_applies(runtime.directory, claims):  # erased: nothing to keep
            return done
        channel = Channel(claims.channel)
        await runtime.directory.set_opt_out(claims.clinic_id, claims.client_ref, channel, True)
        await service.publisher.publish(
            ConsentChanged(
                clinic_id=claims.clinic_id,
                client_ref=claims.client_ref,
                channel=channel,
                opted_out=True,
                source="unsubscribe_link",
            )
        )
        return done

    app.include_router(router)


def _accepted(request: Request) -> str | None:
    return request.headers.get("accept-language")


async def _sent_before(runtime: Runtime, sid: str) -> CallbackRef | None:
    """What a previous release recorded for a message it sent (its callback URL named no
    reminder)."""
    sent = await runtime.directory.message("twilio", sid)
    if sent is None:
        return None
    return CallbackRef(sent.clinic_id or "", sent.reminder_id, sent.correlation_id)


async def handle_keyword(
    service: Service, runtime: Runtime, phone: str, keyword: Keyword | KeywordMatch
) -> Response:
    """Twilio sends our reply from the TwiML answer. A bare ``Keyword`` counts as an
    English word of the standard set, whose STOP/START Twilio confirms itself."""
    match = keyword if isinstance(keyword, KeywordMatch) else KeywordMatch(keyword, standard=True)
    return twiml(await keyword_reply(service, runtime, phone, match, confirms_standard=True))


async def keyword_reply(
    service: Service, runtime: Runtime, phone: str, match: KeywordMatch, *, confirms_standard: bool
) -> str | None:
    """Acts on the keyword and returns the reply in the client's language
    (``reply_texts``), or None. ``confirms_standard``: the SMS provider confirms a STOP or
    START of the standard words itself (Twilio does; Vonage does not), so ours would be a
    second one. Both providers' inbound webhooks come here (Vonage's sends the reply)."""
    if match.keyword in (Keyword.STOP, Keyword.START):
        stop = match.keyword is Keyword.STOP
        await set_sms_consent(service, runtime, phone, opted_out=stop)
        if match.standard and confirms_standard:
            return None
        # "PARAR", "ARRET": no provider knows them, so the confirmation is ours.
        texts = await reply_texts(runtime, phone, match.languages)
        return texts.stopped if stop else texts.started
    if match.keyword is Keyword.HELP:
        clinic_help = await help_text(runtime, phone)
        return clinic_help or (await reply_texts(runtime, phone, match.languages)).help
    if match.keyword is Keyword.DONE:
        return await report_done(service, runtime, phone, match.languages)
    return None


async def set_sms_consent(service: Service, runtime: Runtime, phone: str, opted_out: bool) -> None:
    """STOP/START: at once for the number (even an unknown one), and for every clinic and
    client that gave it, each told by its own ``consent.changed``."""
    directory = runtime.directory
    await directory.set_number_stopped(phone, opted_out)
    owners = await directory.number_owners(phone)
    for owner in owners:
        await directory.set_opt_out(owner.clinic_id, owner.client_ref, Channel.SMS, opted_out)
        await service.publisher.publish(
            ConsentChanged(
                clinic_id=owner.clinic_id,
                client_ref=owner.client_ref,
                channel=Channel.SMS,
                opted_out=opted_out,
                source="sms_keyword",
            )
        )
    log.info("sms keyword", opted_out=opted_out, owners=len(owners))


async def help_text(runtime: Runtime, phone: str) -> str | None:
    """The help text of the clinic whose reminder the number got last, or of its only
    owner; none (the default text) when the number belongs to several and got nothing."""
    directory = runtime.directory
    last = await directory.last_reminder(phone)
    owners = await directory.number_owners(phone)
    if last is not None:
        clinic = last.clinic_id
    elif len({o.clinic_id for o in owners}) == 1:
        clinic = owners[0].clinic_id
    else:
        return None
    policy = await directory.policy(clinic, "")
    return policy.messaging.help_text if policy else None


async def report_done(
    service: Service, runtime: Runtime, phone: str, languages: tuple[str, ...] = ()
) -> str:
    """Reports completion of the number's latest reminder; the reply to send."""
    last = await runtime.directory.last_reminder(phone)
    texts = await reply_texts(runtime, phone, languages)
    if last is None:
        return texts.done_unknown
    correlation = {"correlation_id": last.correlation_id} if last.correlation_id else {}
    await service.publisher.publish(
        CompletionReported(
            clinic_id=last.clinic_id,
            **correlation,
            assignment_id=last.assignment_id,
            client_ref=last.client_ref,
            occurrence_date=last.occurrence,
            completed_at=datetime.now(UTC),
            source=CompletionSource.SMS,
            reminder_id=last.reminder_id,
        )
    )
    log.info("sms done reported", reminder_id=last.reminder_id)
    return texts.done


async def reply_texts(runtime: Runtime, phone: str, languages: tuple[str, ...] = ()) -> Replies:
    """The keyword replies in the language of the number's client (the one its last
    reminder went to, or its only owner), else of the keyword, else of the clinic."""
    directory = runtime.directory
    last = await directory.last_reminder(phone)
    owners = await directory.number_owners(phone)
    if last is not None:
        clinic, client = last.clinic_id, last.client_ref
    elif len(owners) == 1:
        clinic, client = owners[0].clinic_id, owners[0].client_ref
    else:  # a shared number that got nothing yet: at most its one clinic is known
        clinics = {o.clinic_id for o in owners}
        clinic, client = (clinics.pop() if len(clinics) == 1 else ""), ""
    prefs = await directory.preferences(clinic, client) if client else None
    policy = await directory.policy(clinic, "") if clinic else None
    clinic_language = policy.messaging.default_language if policy else None
    return replies(reply_language(prefs.language if prefs else None, languages, clinic_language))
