"""Inbound SMS keywords (the CTIA standard set plus DONE) in English, Spanish, French and
Portuguese, and the language the word was written in.

Carriers match the whole message, not a word inside a sentence: "please stop texting me
so much" is no keyword (a person reads it), "Parar." is. Case, accents and trailing
punctuation do not matter ("arrêt", "ARRET!", "Listo").

Left out on purpose:
- "SI", "OUI", "SIM" (yes) are no START: they are everyday answers ("sí, ya") and would
  quietly opt a person back in. English "YES" stays, as carriers and Twilio treat it.
- "PRONTO" is no DONE: it is Portuguese for "ready" but Spanish for "soon", and a
  completion recorded by mistake misleads the therapist (the done link still works).
- A word of several languages ("STOP": en, fr; "PARAR": es, pt) names them all; the
  reply is in the client's language, or the one of those the clinic writes in.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    DONE = "done"
    OTHER = "other"


@dataclass(frozen=True)
class KeywordMatch:
    keyword: Keyword
    # The languages the word belongs to, English first ("PARAR": es and pt); the reply
    # picks among them (shared.messages.replies.reply_language).
    languages: tuple[str, ...] = ()
    # An English word of the CTIA standard set: Twilio (and carriers) confirm a STOP or
    # START of those themselves, so we must not send a second confirmation.
    standard: bool = False


_STOP_EN = ("STOP", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT", "STOPALL")
# The words SMS providers answer themselves (Twilio's default opt-out handling).
_STANDARD: dict[str, Keyword] = {
    **dict.fromkeys(_STOP_EN, Keyword.STOP),
    **dict.fromkeys(("START", "UNSTOP", "YES"), Keyword.START),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
}
_BY_LANGUAGE: dict[str, dict[Keyword, tuple[str, ...]]] = {
    "en": {
        Keyword.STOP: _STOP_EN,
        Keyword.START: ("START", "UNSTOP", "YES"),
        Keyword.HELP: ("HELP", "INFO"),
        Keyword.DONE: ("DONE", "DID IT", "COMPLETED", "FINISHED"),
    },
    "es": {
        Keyword.STOP: ("PARAR", "PARA", "BAJA", "DARME DE BAJA", "CANCELAR"),
        Keyword.START: ("COMENZAR", "ALTA", "INICIAR", "REANUDAR"),
        Keyword.HELP: ("AYUDA", "INFO"),
        Keyword.DONE: ("LISTO", "LISTA", "HECHO", "HECHA", "TERMINE", "YA LO HICE"),
    },
    "fr": {
        Keyword.STOP: ("ARRET", "ARRETER", "STOP", "DESINSCRIRE", "DESABONNER"),
        Keyword.START: ("COMMENCER", "START", "REPRENDRE"),
        Keyword.HELP: ("AIDE", "INFO"),
        Keyword.DONE: ("FAIT", "FINI", "TERMINE", "C'EST FAIT"),
    },
    "pt": {
        Keyword.STOP: ("SAIR", "PARE", "PARAR", "PARA", "CANCELAR", "DESCADASTRAR"),
        Keyword.START: ("VOLTAR", "INICIAR", "RETOMAR"),
        Keyword.HELP: ("AJUDA", "INFO"),
        Keyword.DONE: ("FEITO", "FEITA", "CONCLUIDO", "CONCLUIDA", "TERMINEI", "JA FIZ"),
    },
}


def _table() -> dict[str, KeywordMatch]:
    """Word -> its keyword, languages and whether providers answer it themselves."""
    languages: dict[str, list[str]] = {}
    keywords: dict[str, Keyword] = {}
    for language, words in _BY_LANGUAGE.items():
        for keyword, spellings in words.items():
            for word in spellings:
                if keywords.setdefault(word, keyword) is not keyword:
                    raise ValueError(f"{word!r} means two keywords")
                languages.setdefault(word, []).append(language)
    return {
        word: KeywordMatch(
            keyword,
            tuple(languages[word]),
            standard=_STANDARD.get(word) is keyword,
        )
        for word, keyword in keywords.items()
    }


_WORDS = _table()
_NO_MATCH = KeywordMatch(Keyword.OTHER)


def normalise(body: str) -> str:
    """Upper case, accents off, spaces single, trailing . ! ? and a leading ¡ ¿ off."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", body) if not unicodedata.combining(c))
    bare = bare.replace("\u2019", "'")  # phones type a curly apostrophe in "c'est fait"
    return " ".join(bare.strip().strip(".!?¡¿ ").upper().split())


def recognise(body: str) -> KeywordMatch:
    return _WORDS.get(normalise(body), _NO_MATCH)


def parse_keyword(body: str) -> Keyword:
    """Carriers match the whole message, case-insensitively, ignoring punctuation."""
    return recognise(body).keyword
