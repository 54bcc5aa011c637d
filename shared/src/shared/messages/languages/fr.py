"""French ("vous"): accents are written; an SMS carries GSM-7 stand-ins."""

from shared.contracts import ReminderPurpose
from shared.messages.phrasing import LanguageTexts, Notice, PageTexts, Phrasing, Replies

TEXTS = LanguageTexts(
    code="fr",
    greeting="Bonjour,",
    done_prompt="Fait ? Touchez",
    see_prompt="Les voir :",
    mark_done="C'est fait",
    see_them="Voir vos activités",
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
    pages=PageTexts(
        weekdays="lundi mardi mercredi jeudi vendredi samedi dimanche",
        months="janvier février mars avril mai juin "
        "juillet août septembre octobre novembre décembre",
        day="{weekday} {day} {month}",
        confirm_title="Avez-vous pu faire votre activité ?",
        confirm_for="C'est pour le {day}. Un seul geste, et votre clinique est au courant.",
        confirm_button="Oui, c'est fait",
        not_yet="Pas encore ? Aucun souci, vous pouvez fermer cette page.",
        recorded=Notice(
            "Merci, c'est noté",
            (
                "Votre activité est marquée comme faite. Chaque moment de pratique compte.",
                "Vous pouvez fermer cette page.",
            ),
        ),
        already=Notice(
            "Déjà noté",
            (
                "Cette activité était déjà marquée comme faite : rien de plus à faire.",
                "Vous pouvez fermer cette page.",
            ),
        ),
        expired=Notice(
            "Ce lien a expiré",
            (
                "Pour protéger votre vie privée, ces liens ne fonctionnent que quelques jours.",
                "Si vous avez fait l'activité, vous pouvez le dire à votre clinique ou "
                "répondre FAIT au dernier SMS.",
            ),
        ),
        invalid=Notice(
            "Ce lien ne fonctionne pas",
            ("Il semble incomplet ou modifié. Utilisez le lien tel que vous l'avez reçu.",),
        ),
        not_ready=Notice(
            "Ce lien n'est pas encore prêt",
            (
                "Si le message vient d'arriver, réessayez dans une minute.",
                "S'il s'agit d'un ancien message, le lien ne fonctionne peut-être plus : "
                "votre prochain rappel en aura un nouveau.",
            ),
        ),
        outdated=Notice(
            "Ce lien vient d'une ancienne version",
            (
                "Les liens des rappels ont changé et celui-ci ne fonctionne plus. Vous n'y "
                "êtes pour rien.",
                "Votre prochain rappel aura un nouveau lien. Si vous avez fait l'activité, "
                "vous pouvez le dire à votre clinique ou répondre FAIT au dernier SMS.",
            ),
        ),
        unavailable=Notice(
            "Réessayez dans un instant",
            (
                "Nous n'avons pas pu l'enregistrer pour le moment. Rien n'est perdu : "
                "réessayez un peu plus tard.",
            ),
        ),
        digest_title="{count} activités",
        digest_title_one="Votre activité",
        digest_intro="Touchez celles que vous avez faites. À chaque fois, votre clinique "
        "est au courant.",
        digest_thanks="Merci, c'est noté. Chaque moment de pratique compte.",
        digest_waiting="Pas encore ? Aucun souci, vous pouvez fermer cette page.",
        digest_all_done="Tout est fait : vous pouvez fermer cette page.",
        activity="Activité {number}",
        purposes={
            "reminder": "pour aujourd'hui",
            "nudge": "encore le temps aujourd'hui",
            "lead": "bientôt",
        },
        line_done="Fait, merci !",
        line_gone="Ce lien ne peut plus l'enregistrer.",
        line_button="Marquer l'activité {number} comme faite",
        unsubscribe_title="E-mails de rappel",
        unsubscribe_question="Ne plus recevoir les e-mails de rappel ?",
        unsubscribe_text="Vous pouvez les arrêter à tout moment. Votre clinique ne vous enverra "
        "plus d'e-mails de rappel, sauf si vous les redemandez.",
        unsubscribe_button="Arrêter les e-mails de rappel",
        unsubscribed=Notice(
            "C'est fait : plus d'e-mails de rappel",
            (
                "Vous ne recevrez plus ces e-mails. Si vous changez d'avis, votre clinique "
                "peut les réactiver.",
            ),
        ),
    ),
)
