"""Portuguese (Brazilian, "você"): accents are written; an SMS carries GSM-7 stand-ins."""

from shared.contracts import ReminderPurpose
from shared.messages.phrasing import LanguageTexts, Notice, PageTexts, Phrasing, Replies

TEXTS = LanguageTexts(
    code="pt",
    greeting="Olá,",
    done_prompt="Feito? Toque",
    see_prompt="Veja aqui:",
    mark_done="Marcar como feita",
    see_them="Ver suas atividades",
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
    pages=PageTexts(
        weekdays="segunda-feira terça-feira quarta-feira quinta-feira sexta-feira sábado domingo",
        months="janeiro fevereiro março abril maio junho "
        "julho agosto setembro outubro novembro dezembro",
        day="{weekday}, {day} de {month}",
        confirm_title="Você conseguiu fazer sua prática?",
        confirm_for="É a de {day}. Um toque avisa sua clínica.",
        confirm_button="Sim, marcar como feita",
        not_yet="Ainda não? Tudo bem, você pode fechar esta página.",
        recorded=Notice(
            "Obrigado! Está anotado",
            (
                "Sua atividade foi marcada como feita. Cada prática conta.",
                "Você pode fechar esta página.",
            ),
        ),
        already=Notice(
            "Já estava anotado",
            (
                "Esta atividade já estava marcada como feita: não precisa fazer mais nada.",
                "Você pode fechar esta página.",
            ),
        ),
        expired=Notice(
            "Este link expirou",
            (
                "Para proteger sua privacidade, estes links só funcionam por alguns dias.",
                "Se você fez a atividade, pode avisar sua clínica ou responder FEITO à "
                "última mensagem.",
            ),
        ),
        invalid=Notice(
            "Este link não funciona",
            ("Ele parece incompleto ou alterado. Use o link exatamente como chegou.",),
        ),
        not_ready=Notice(
            "Este link ainda não está pronto",
            (
                "Se a mensagem acabou de chegar, tente de novo em um minuto.",
                "Se for uma mensagem antiga, o link pode não funcionar mais: seu próximo "
                "lembrete trará um novo.",
            ),
        ),
        outdated=Notice(
            "Este link é de uma versão anterior",
            (
                "Os links dos lembretes mudaram e este não funciona mais. Não é nada que "
                "você tenha feito.",
                "Seu próximo lembrete trará um link novo. Se você fez a atividade, pode "
                "avisar sua clínica ou responder FEITO à última mensagem.",
            ),
        ),
        unavailable=Notice(
            "Tente de novo em um instante",
            ("Não conseguimos salvar agora. Nada se perdeu: tente de novo daqui a pouco.",),
        ),
        digest_title="{count} atividades",
        digest_title_one="Sua atividade",
        digest_intro="Toque nas que você conseguiu fazer. Cada toque avisa sua clínica.",
        digest_thanks="Obrigado! Está anotado. Cada prática conta.",
        digest_waiting="Ainda não? Tudo bem, você pode fechar esta página.",
        digest_all_done="Tudo feito: você pode fechar esta página.",
        activity="Atividade {number}",
        purposes={"reminder": "para hoje", "nudge": "ainda dá tempo hoje", "lead": "em breve"},
        line_done="Feita, obrigado!",
        line_gone="Este link não registra mais esta atividade.",
        line_button="Marcar a atividade {number} como feita",
        unsubscribe_title="E-mails de lembrete",
        unsubscribe_question="Parar de receber e-mails de lembrete?",
        unsubscribe_text="Você pode pará-los quando quiser. Sua clínica não vai enviar mais "
        "e-mails de lembrete, a menos que você peça de novo.",
        unsubscribe_button="Parar os e-mails de lembrete",
        unsubscribed=Notice(
            "Pronto: sem mais e-mails de lembrete",
            (
                "Você não vai receber mais estes e-mails. Se mudar de ideia, sua clínica "
                "pode reativá-los.",
            ),
        ),
    ),
)
