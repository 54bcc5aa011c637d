"""Spanish (neutral, "tú"): accents are written; an SMS carries GSM-7 stand-ins."""

from shared.contracts import ReminderPurpose
from shared.messages.phrasing import LanguageTexts, Notice, PageTexts, Phrasing, Replies

TEXTS = LanguageTexts(
    code="es",
    greeting="Hola:",
    done_prompt="¿Listo? Toca",
    see_prompt="Velas aquí:",
    mark_done="Marcar como hecha",
    see_them="Ver tus actividades",
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
    pages=PageTexts(
        weekdays="lunes martes miércoles jueves viernes sábado domingo",
        months="enero febrero marzo abril mayo junio "
        "julio agosto septiembre octubre noviembre diciembre",
        day="{weekday} {day} de {month}",
        confirm_title="¿Pudiste hacer tu práctica?",
        confirm_for="Es la del {day}. Con un toque, tu clínica lo sabrá.",
        confirm_button="Sí, marcar como hecha",
        not_yet="¿Todavía no? No pasa nada: puedes cerrar esta página.",
        recorded=Notice(
            "¡Gracias! Ya está anotado",
            (
                "Tu actividad quedó marcada como hecha. Cada práctica cuenta.",
                "Puedes cerrar esta página.",
            ),
        ),
        already=Notice(
            "Ya estaba anotado",
            (
                "Esta actividad ya estaba marcada como hecha: no hace falta nada más.",
                "Puedes cerrar esta página.",
            ),
        ),
        expired=Notice(
            "Este enlace caducó",
            (
                "Por tu privacidad, estos enlaces solo funcionan unos días.",
                "Si hiciste la actividad, puedes decírselo a tu clínica o responder LISTO "
                "al último mensaje.",
            ),
        ),
        invalid=Notice(
            "Este enlace no funciona",
            ("Parece incompleto o modificado. Usa el enlace tal como te llegó.",),
        ),
        not_ready=Notice(
            "Este enlace aún no está listo",
            (
                "Si el mensaje acaba de llegar, vuelve a intentarlo en un minuto.",
                "Si es un mensaje antiguo, puede que el enlace ya no funcione: tu próximo "
                "recordatorio traerá uno nuevo.",
            ),
        ),
        outdated=Notice(
            "Este enlace es de una versión anterior",
            (
                "Los enlaces de los recordatorios cambiaron y este ya no funciona. No es "
                "nada que hayas hecho tú.",
                "Tu próximo recordatorio traerá un enlace nuevo. Si hiciste la actividad, "
                "puedes decírselo a tu clínica o responder LISTO al último mensaje.",
            ),
        ),
        unavailable=Notice(
            "Inténtalo de nuevo en un momento",
            ("No pudimos guardarlo ahora. No se perdió nada: vuelve a intentarlo en un rato.",),
        ),
        digest_title="{count} actividades",
        digest_title_one="Tu actividad",
        digest_intro="Toca las que pudiste hacer. Con cada toque, tu clínica lo sabrá.",
        digest_thanks="¡Gracias! Ya está anotado. Cada práctica cuenta.",
        digest_waiting="¿Todavía no? No pasa nada: puedes cerrar esta página.",
        digest_all_done="Todo listo: puedes cerrar esta página.",
        activity="Actividad {number}",
        purposes={"reminder": "para hoy", "nudge": "aún hay tiempo hoy", "lead": "se acerca"},
        line_done="Hecha, ¡gracias!",
        line_gone="Este enlace ya no puede anotarla.",
        line_button="Marcar la actividad {number} como hecha",
        unsubscribe_title="Correos de recordatorio",
        unsubscribe_question="¿Dejar de recibir correos de recordatorio?",
        unsubscribe_text="Puedes dejarlos cuando quieras. Tu clínica no te enviará más correos "
        "de recordatorio, salvo que vuelvas a pedirlos.",
        unsubscribe_button="No recibir más correos",
        unsubscribed=Notice(
            "Listo: no más correos de recordatorio",
            (
                "Ya no recibirás estos correos. Si cambias de opinión, tu clínica puede "
                "volver a activarlos.",
            ),
        ),
    ),
)
