"""French ("vous"): accents are written; an SMS carries GSM-7 stand-ins."""

from shared.contracts import ReminderPurpose
from shared.messages.phrasing import LanguageTexts, Phrasing, Replies

TEXTS = LanguageTexts(
    code="fr",
    greeting="Bonjour,",
    done_prompt="Fait ? Touchez",
    mark_done="C'est fait",
    see_them="Les voir",
    footer="Vous pouvez arrêter ces messages à tout moment.",
    opt_out="Répondez STOP pour ne plus recevoir de SMS.",
    phrasings={
        ReminderPurpose.REMINDER: (
            Phrasing(
                "une activité vous attend aujourd'hui{{ detail }}.", "une activité vous attend"
            ),
            Phrasing("votre activité du jour{{ detail }} est prête.", "votre activité du jour"),
            Phrasing(
                "prenez un moment pour la pratique du jour{{ detail }}.", "un moment pour vous"
            ),
            Phrasing(
                "un petit pas vous attend aujourd'hui{{ detail }}.", "un petit pas pour aujourd'hui"
            ),
            Phrasing("petit rappel : votre activité du jour{{ detail }}.", "petit rappel"),
        ),
        ReminderPurpose.NUDGE: (
            Phrasing("il reste du temps pour l'activité du jour{{ detail }}.", "il reste du temps"),
            Phrasing(
                "l'activité du jour{{ detail }} vous attend encore.",
                "l'activité du jour vous attend",
            ),
            Phrasing("sans pression : l'activité du jour{{ detail }} attend.", "sans pression"),
            Phrasing("même quelques minutes{{ detail }}, ça compte.", "quelques minutes comptent"),
        ),
        ReminderPurpose.LEAD: (
            Phrasing(
                "une activité arrive bientôt{{ detail }}. Courage !", "une activité arrive bientôt"
            ),
            Phrasing("pour info : une activité approche{{ detail }}.", "pour info"),
            Phrasing(
                "votre prochaine activité{{ detail }} arrive bientôt.", "bientôt, une activité"
            ),
        ),
        ReminderPurpose.ENCOURAGEMENT: (
            Phrasing("bravo pour votre activité{{ detail }}. Chaque pas compte.", "bravo"),
            Phrasing(
                "bien joué pour votre pratique{{ detail }} ! Les petites victoires comptent.",
                "bien joué",
            ),
            Phrasing("merci d'avoir pris ce temps pour vous. Ça compte.", "merci"),
            Phrasing(
                "vous avez pris soin de vous aujourd'hui. Bravo !", "les petites victoires comptent"
            ),
        ),
    },
    digest=(
        Phrasing(
            "{{ count }} activités vous attendent aujourd'hui.",
            "{{ count }} activités vous attendent",
        ),
        Phrasing(
            "vous avez {{ count }} activités pour aujourd'hui.", "{{ count }} activités aujourd'hui"
        ),
        Phrasing(
            "{{ count }} petits pas vous attendent aujourd'hui.",
            "{{ count }} petits pas pour aujourd'hui",
        ),
    ),
    replies=Replies(
        help="Répondez STOP pour arrêter ces messages, START pour les reprendre, "
        "FAIT une fois l'activité faite.",
        stopped="Vous ne recevrez plus de rappels par SMS. Répondez START pour les reprendre.",
        started="Les rappels par SMS reprennent. Répondez STOP pour les arrêter.",
        done="Merci ! C'est noté comme fait. Chaque pas compte.",
        done_unknown="Merci ! Nous n'avons pas trouvé de rappel récent pour ce numéro.",
    ),
)
