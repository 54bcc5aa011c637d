"""Spanish (neutral, "tú"): accents are written; an SMS carries GSM-7 stand-ins."""

from shared.contracts import ReminderPurpose
from shared.messages.phrasing import LanguageTexts, Phrasing, Replies

TEXTS = LanguageTexts(
    code="es",
    greeting="Hola:",
    done_prompt="¿Listo? Toca",
    mark_done="Marcar como hecha",
    see_them="Verlas",
    footer="Puedes dejar de recibir estos mensajes cuando quieras.",
    opt_out="Responde STOP para darte de baja.",
    phrasings={
        ReminderPurpose.REMINDER: (
            Phrasing("te espera una actividad hoy{{ detail }}.", "te espera una actividad"),
            Phrasing(
                "tu actividad de hoy{{ detail }} está lista cuando quieras.", "tu actividad de hoy"
            ),
            Phrasing(
                "es un buen momento para tu práctica de hoy{{ detail }}.",
                "un momento para tu práctica",
            ),
            Phrasing("un pequeño paso te espera hoy{{ detail }}.", "un pequeño paso para hoy"),
            Phrasing("solo un recordatorio: la actividad de hoy{{ detail }}.", "un recordatorio"),
        ),
        ReminderPurpose.NUDGE: (
            Phrasing("aún hay tiempo para la actividad de hoy{{ detail }}.", "aún hay tiempo hoy"),
            Phrasing(
                "la actividad de hoy{{ detail }} sigue ahí, sin prisa.", "sin prisa, sigue ahí"
            ),
            Phrasing(
                "si tienes un rato, la actividad de hoy{{ detail }} te espera.", "si tienes un rato"
            ),
            Phrasing(
                "unos minutos bastan para la actividad de hoy{{ detail }}.", "unos minutos bastan"
            ),
        ),
        ReminderPurpose.LEAD: (
            Phrasing(
                "pronto tendrás una actividad{{ detail }}. ¡Tú puedes!", "pronto, una actividad"
            ),
            Phrasing("un aviso: se acerca una actividad{{ detail }}.", "un aviso"),
            Phrasing("tu próxima actividad{{ detail }} llega pronto.", "se acerca una actividad"),
        ),
        ReminderPurpose.ENCOURAGEMENT: (
            Phrasing(
                "buen trabajo con tu actividad{{ detail }}. Cada paso cuenta.", "buen trabajo"
            ),
            Phrasing(
                "¡bien hecho con tu práctica{{ detail }}! Los pequeños logros suman.",
                "¡bien hecho!",
            ),
            Phrasing("gracias por dedicarte este tiempo. Importa mucho.", "gracias"),
            Phrasing("hoy hiciste algo por ti. ¡Buen trabajo!", "los pequeños logros suman"),
        ),
    },
    digest=(
        Phrasing("hoy te esperan {{ count }} actividades.", "te esperan {{ count }} actividades"),
        Phrasing(
            "tienes {{ count }} actividades para hoy, sin prisa.",
            "{{ count }} actividades para hoy",
        ),
        Phrasing(
            "{{ count }} pequeños pasos te esperan hoy.", "{{ count }} pequeños pasos para hoy"
        ),
    ),
    replies=Replies(
        help="Responde PARAR para no recibir más mensajes, COMENZAR para volver a recibirlos "
        "y LISTO cuando hayas hecho la actividad.",
        stopped="No recibirás más recordatorios por SMS. Responde COMENZAR para volver.",
        started="Los recordatorios por SMS están activos de nuevo. Responde PARAR para dejarlos.",
        done="¡Gracias! Lo anotamos como hecho. Cada paso cuenta.",
        done_unknown="¡Gracias! No encontramos un recordatorio reciente para este número.",
    ),
)
