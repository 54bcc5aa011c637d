"""Inbound SMS keywords in English, Spanish, French and Portuguese, and the language
their replies are written in (pure)."""

from __future__ import annotations

import pytest

from notifier.keywords import Keyword, recognise
from shared.messages.catalogue import CATALOGUE
from shared.messages.replies import replies, reply_language
from shared.messages.sms_text import is_gsm7, measure


@pytest.mark.parametrize(
    ("body", "keyword", "languages"),
    [
        # Spanish
        ("PARAR", Keyword.STOP, ("es", "pt")),
        ("baja", Keyword.STOP, ("es",)),
        ("Darme de baja.", Keyword.STOP, ("es",)),
        ("cancelar", Keyword.STOP, ("es", "pt")),
        ("Comenzar", Keyword.START, ("es",)),
        ("ALTA", Keyword.START, ("es",)),
        ("¡Ayuda!", Keyword.HELP, ("es",)),
        ("listo", Keyword.DONE, ("es",)),
        ("Hecho.", Keyword.DONE, ("es",)),
        ("ya lo hice", Keyword.DONE, ("es",)),
        # French
        ("ARRÊT", Keyword.STOP, ("fr",)),
        ("arret", Keyword.STOP, ("fr",)),
        ("Désinscrire", Keyword.STOP, ("fr",)),
        ("commencer", Keyword.START, ("fr",)),
        ("aide", Keyword.HELP, ("fr",)),
        ("Fait !", Keyword.DONE, ("fr",)),
        ("fini", Keyword.DONE, ("fr",)),
        ("C\u2019est fait", Keyword.DONE, ("fr",)),  # a phone's curly apostrophe
        ("terminé", Keyword.DONE, ("es", "fr")),  # "terminé": I finished (es), finished (fr)
        # Portuguese
        ("SAIR", Keyword.STOP, ("pt",)),
        ("Pare", Keyword.STOP, ("pt",)),
        ("voltar", Keyword.START, ("pt",)),
        ("Iniciar", Keyword.START, ("es", "pt")),
        ("ajuda", Keyword.HELP, ("pt",)),
        ("FEITO", Keyword.DONE, ("pt",)),
        ("Concluído", Keyword.DONE, ("pt",)),
        ("já fiz", Keyword.DONE, ("pt",)),
        # English and the standard words every language shares
        ("Stop", Keyword.STOP, ("en", "fr")),
        ("start", Keyword.START, ("en", "fr")),
        ("INFO", Keyword.HELP, ("en", "es", "fr", "pt")),
        ("Done!", Keyword.DONE, ("en",)),
    ],
)
def test_keywords_in_four_languages_ignore_case_accents_and_punctuation(
    body: str, keyword: Keyword, languages: tuple[str, ...]
) -> None:
    match = recognise(body)
    assert match.keyword is keyword
    assert match.languages == languages


@pytest.mark.parametrize(
    "body",
    [
        "sí",  # yes: never an opt-in by accident
        "oui",
        "sim",
        "pronto",  # Portuguese "ready", Spanish "soon": never a completion by accident
        "para mañana",
        "no puedo parar de pensar",
        "je n'ai pas fini",
        "",
    ],
)
def test_ambiguous_words_and_sentences_are_no_keyword(body: str) -> None:
    assert recognise(body).keyword is Keyword.OTHER


def test_only_the_standard_english_words_are_left_to_the_provider_to_confirm() -> None:
    for word in ("STOP", "stopall", "Unsubscribe", "cancel", "START", "unstop", "yes"):
        assert recognise(word).standard, word
    for word in ("PARAR", "ARRET", "SAIR", "BAJA", "COMENZAR", "VOLTAR", "COMMENCER"):
        assert not recognise(word).standard, word


@pytest.mark.parametrize(
    ("client", "word", "clinic", "expected"),
    [
        ("es-MX", ("en", "fr"), "en", "es"),  # the client's language first
        ("de", ("fr",), "en", "fr"),  # no German texts: the keyword's language
        (None, ("es", "pt"), "pt-BR", "pt"),  # shared word: the clinic's, if it is one
        (None, ("es", "pt"), "en", "es"),  # else the word's first
        (None, (), "fr-CA", "fr"),  # no language from the word: the clinic's
        (None, (), None, "en"),
        ("nl", (), "de", "en"),
    ],
)
def test_the_reply_language_falls_back_from_client_to_keyword_to_clinic_to_english(
    client: str | None, word: tuple[str, ...], clinic: str | None, expected: str
) -> None:
    assert reply_language(client, word, clinic) == expected


@pytest.mark.parametrize("language", list(CATALOGUE))
def test_every_reply_is_one_gsm7_sms_and_names_its_own_keywords(language: str) -> None:
    texts = replies(language)
    for text in (texts.help, texts.stopped, texts.started, texts.done, texts.done_unknown):
        assert is_gsm7(text), text
        assert measure(text).segments == 1, text
    # Every keyword a reply tells the client to send is one we recognise, in any case.
    expected = {
        "help": (Keyword.STOP, Keyword.START, Keyword.DONE),
        "stopped": (Keyword.START,),
        "started": (Keyword.STOP,),
    }
    for name, keywords in expected.items():
        named = {recognise(w).keyword for w in getattr(texts, name).split() if w.isupper()}
        assert set(keywords) <= named, (name, getattr(texts, name))
