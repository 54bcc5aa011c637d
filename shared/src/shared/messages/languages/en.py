"""English."""

from shared.contracts import ReminderPurpose
from shared.messages.phrasing import LanguageTexts, Notice, PageTexts, Phrasing, Replies

TEXTS = LanguageTexts(
    code="en",
    greeting="Hello,",
    done_prompt="Done? Tap",
    see_prompt="See them:",
    mark_done="Mark it done",
    see_them="See your activities",
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
    pages=PageTexts(
        weekdays="Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
        months="January February March April May June "
        "July August September October November December",
        day="{weekday} {day} {month}",
        confirm_title="Did you get to your practice?",
        confirm_for="This is for {day}. One tap lets your clinic know.",
        confirm_button="Yes, mark it as done",
        not_yet="Not yet? That's fine - you can close this page.",
        recorded=Notice(
            "Thank you - it's recorded",
            (
                "Your activity is marked as done. Every bit of practice counts.",
                "You can close this page.",
            ),
        ),
        already=Notice(
            "Already recorded",
            (
                "This activity was already marked as done - nothing more to do.",
                "You can close this page.",
            ),
        ),
        expired=Notice(
            "This link has expired",
            (
                "For your privacy, done links only work for a few days.",
                "If you did the activity, you can tell your clinic or reply DONE to the "
                "latest text.",
            ),
        ),
        invalid=Notice(
            "This link does not work",
            ("The link looks incomplete or changed. Please use the link exactly as it was sent.",),
        ),
        not_ready=Notice(
            "This link is not ready yet",
            (
                "If the message just arrived, please try again in a minute.",
                "If it is an older message, the link may no longer work: your next reminder "
                "will have a fresh one.",
            ),
        ),
        outdated=Notice(
            "This link is from an older version",
            (
                "Reminder links have changed, and this one no longer works. Nothing is wrong "
                "on your side.",
                "Your next reminder will have a fresh link. If you did the activity, you can "
                "tell your clinic or reply DONE to the latest text.",
            ),
        ),
        unavailable=Notice(
            "Please try again in a moment",
            ("We could not save this right now. Nothing is lost - please try again shortly.",),
        ),
        digest_title="{count} activities",
        digest_title_one="Your activity",
        digest_intro="Tap the ones you got to. Each tap lets your clinic know.",
        digest_thanks="Thank you - it's recorded. Every bit of practice counts.",
        digest_waiting="Not yet? That's fine - you can close this page.",
        digest_all_done="All done here - you can close this page.",
        activity="Activity {number}",
        purposes={"reminder": "for today", "nudge": "still time today", "lead": "coming up"},
        line_done="Done - thank you",
        line_gone="This link no longer records it.",
        line_button="Mark activity {number} as done",
        unsubscribe_title="Reminder emails",
        unsubscribe_question="Stop reminder emails?",
        unsubscribe_text="You can stop these emails at any time. Your clinic will not send you "
        "more reminder emails unless you ask for them again.",
        unsubscribe_button="Stop reminder emails",
        unsubscribed=Notice(
            "No more reminder emails",
            (
                "You will not get these emails any more. If you change your mind, your "
                "clinic can turn them back on.",
            ),
        ),
    ),
)
