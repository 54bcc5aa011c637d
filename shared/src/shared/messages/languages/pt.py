"""Portuguese (Brazilian, "você"): accents are written; an SMS carries GSM-7 stand-ins."""

from shared.contracts import ReminderPurpose
from shared.messages.phrasing import LanguageTexts, Phrasing, Replies

TEXTS = LanguageTexts(
    code="pt",
    greeting="Olá,",
    done_prompt="Feito? Toque",
    mark_done="Marcar como feita",
    see_them="Ver atividades",
    footer="Você pode parar estas mensagens quando quiser.",
    opt_out="Responda STOP para não receber mais.",
    phrasings={
        ReminderPurpose.REMINDER: (
            Phrasing(
                "tem uma atividade esperando por você hoje{{ detail }}.",
                "uma atividade espera por você",
            ),
            Phrasing("sua atividade de hoje{{ detail }} está pronta.", "sua atividade de hoje"),
            Phrasing(
                "um momento para sua prática de hoje{{ detail }}.", "um momento para sua prática"
            ),
            Phrasing(
                "um pequeno passo espera por você hoje{{ detail }}.", "um pequeno passo para hoje"
            ),
            Phrasing("só um lembrete: a atividade de hoje{{ detail }}.", "um lembrete"),
        ),
        ReminderPurpose.NUDGE: (
            Phrasing("ainda dá tempo para a atividade de hoje{{ detail }}.", "ainda dá tempo hoje"),
            Phrasing(
                "a atividade de hoje{{ detail }} ainda espera por você.", "sua atividade espera"
            ),
            Phrasing("sem pressa: a atividade de hoje{{ detail }} continua aí.", "sem pressa"),
            Phrasing("uns minutinhos já fazem diferença{{ detail }}.", "uns minutinhos contam"),
        ),
        ReminderPurpose.LEAD: (
            Phrasing("uma atividade vem aí{{ detail }}. Você consegue!", "uma atividade vem aí"),
            Phrasing("um aviso: uma atividade está chegando{{ detail }}.", "um aviso"),
            Phrasing(
                "sua próxima atividade{{ detail }} chega em breve.", "em breve, uma atividade"
            ),
        ),
        ReminderPurpose.ENCOURAGEMENT: (
            Phrasing(
                "bom trabalho na sua atividade{{ detail }}. Cada passo conta.", "bom trabalho"
            ),
            Phrasing(
                "muito bem com sua prática{{ detail }}! Pequenas conquistas contam.", "muito bem"
            ),
            Phrasing(
                "que bom que você reservou esse tempo. Isso importa.", "pequenas conquistas contam"
            ),
            Phrasing("hoje você tirou um tempo para você. Parabéns!", "parabéns"),
        ),
    },
    digest=(
        Phrasing(
            "{{ count }} atividades esperam por você hoje.",
            "{{ count }} atividades esperam por você",
        ),
        Phrasing("você tem {{ count }} atividades para hoje.", "{{ count }} atividades para hoje"),
        Phrasing(
            "{{ count }} pequenos passos esperam por você hoje.",
            "{{ count }} pequenos passos para hoje",
        ),
    ),
    replies=Replies(
        help="Responda SAIR para parar estas mensagens, VOLTAR para recebê-las de novo "
        "e FEITO quando concluir a atividade.",
        stopped="Você não vai receber mais lembretes por SMS. Responda VOLTAR para retomar.",
        started="Os lembretes por SMS voltaram. Responda SAIR para parar.",
        done="Obrigado! Anotamos como feito. Cada passo conta.",
        done_unknown="Obrigado! Não encontramos um lembrete recente para este número.",
    ),
)
