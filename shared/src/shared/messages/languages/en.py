"""English."""

from shared.contracts import ReminderPurpose
from shared.messages.phrasing import LanguageTexts, Phrasing, Replies

TEXTS = LanguageTexts(
    code="en",
    greeting="Hello,",
    done_prompt="Done? Tap",
    mark_done="Mark it done",
    see_them="See them",
    footer="You can stop these messages at any time.",
    opt_out="Reply STOP to opt out.",
    phrasings={
        ReminderPurpose.REMINDER: (
            Phrasing("an activity is waiting for you today{{ detail }}.", "an activity is waiting"),
            Phrasing("today's activity{{ detail }} is ready when you are.", "today's activity"),
            Phrasing(
                "time for today's practice{{ detail }}, whenever suits you.",
                "a moment for your practice",
            ),
            Phrasing(
                "a small step is waiting for you today{{ detail }}.", "a small step for today"
            ),
            Phrasing("a gentle reminder about today's activity{{ detail }}.", "a gentle reminder"),
        ),
        ReminderPurpose.NUDGE: (
            Phrasing(
                "still time for today's activity{{ detail }}. Small steps count.",
                "still time today",
            ),
            Phrasing("there's still time for today's activity{{ detail }}.", "there's still time"),
            Phrasing(
                "even a few minutes on today's activity{{ detail }} help.", "a few minutes count"
            ),
            Phrasing("no pressure: today's activity{{ detail }} is still there.", "no pressure"),
        ),
        ReminderPurpose.LEAD: (
            Phrasing(
                "an activity is coming up soon{{ detail }}. You've got this.",
                "an activity is coming up",
            ),
            Phrasing("a heads-up: an activity is coming up{{ detail }}.", "a heads-up"),
            Phrasing("your next activity{{ detail }} is coming up soon.", "coming up soon"),
        ),
        ReminderPurpose.ENCOURAGEMENT: (
            Phrasing("nice work on your activity{{ detail }}. Every step counts.", "well done"),
            Phrasing(
                "well done on your practice{{ detail }}. Small wins add up.", "small wins add up"
            ),
            Phrasing("thank you for making time for your practice. It matters.", "thank you"),
            Phrasing("you made time for yourself today. Nice work.", "nice work"),
        ),
    },
    digest=(
        Phrasing(
            "{{ count }} activities are waiting for you today.",
            "{{ count }} activities are waiting",
        ),
        Phrasing(
            "{{ count }} activities are ready for you today.", "{{ count }} activities for today"
        ),
        Phrasing(
            "{{ count }} small steps are waiting for you today.",
            "{{ count }} small steps for today",
        ),
    ),
    replies=Replies(
        help="Reply STOP to stop these messages, START to resume, DONE when you did it.",
        stopped="You will not get more text reminders. Reply START to resume.",
        started="Text reminders are back on. Reply STOP to stop them.",
        done="Thanks! We've noted it as done. Every step counts.",
        done_unknown="Thanks! We could not find a recent reminder for this number.",
    ),
)
