"""The satisfaction survey (IKM, PermenPAN-RB No. 14/2017) after a booking was served.

A worker thanks the applicant served at a counter and invites them (workers/calls.py,
``tell_served``) with two buttons, "take the survey" and "no thanks": a link
(bot/core/dialog.py, ``Steps.link``), so a tap works whatever step the applicant is at. Where
there are no buttons (the console, a WhatsApp template) typing /survei (/survey) takes the
survey last invited to.

Taking it asks the nine elements one at a time (four answers each, worst first, as the
regulation's questionnaire, plus "stop the survey"), then an optional comment (typed, or a
button to skip it), then thanks. The answers stay in the session's data until the last one: an
abandoned survey records nothing. The whole answer is recorded by one script that accepts it
only for a served booking of this account, once (bot/booking/survey.py); the check at the start
only spares a refused applicant nine questions.
"""

from __future__ import annotations

from typing import Any

from bot.booking.app import Context
from bot.booking.audit import applicant
from bot.booking.ikm import COUNT, ELEMENTS, SCORES
from bot.booking.survey import DECLINE, LINK, RECORDED, TAKE, Surveys, invited
from bot.core.clock import parse_day
from bot.core.dialog import MENU, Goto, Prompt, Reply, Steps
from bot.core.messages import Option
from handlers.common import OFFICE, is_network

QUESTION, COMMENT = "ikm.question", "ikm.comment"
# Session data: the survey's office, booking, the booking's day and the scores so far.
SURVEY = "ikm"
STOP, SKIP = "stop", "skip"


def _survey(ctx: Context) -> dict[str, Any]:
    """The survey under way (back to the menu without one: a session from before it)."""
    survey = ctx.data.get(SURVEY)
    if not isinstance(survey, dict) or survey.get("office") not in ctx.deps.offices:
        ctx.data.pop(SURVEY, None)
        raise Goto(MENU)
    return survey


def _surveys(ctx: Context, office_id: str) -> Surveys:
    return ctx.deps.at(office_id).desk.surveys


async def follow(ctx: Context, rest: str) -> str:
    """The invitation's buttons: ``go:<office>:<booking>`` or ``no:<office>:<booking>``."""
    action, _, about = rest.partition(":")
    office_id, _, booking_id = about.partition(":")
    if office_id not in ctx.deps.offices or action not in (TAKE, DECLINE) or not booking_id:
        ctx.say(ctx.t("option.stale"))
        return MENU
    outcome, day = await _surveys(ctx, office_id).check(booking_id, account=ctx.identity)
    if outcome != RECORDED or day is None:
        ctx.say(ctx.t(f"ikm.refused_{outcome}"))
        return MENU
    if action == DECLINE:
        ctx.say(ctx.t("ikm.declined"))
        return MENU
    if is_network(ctx):
        ctx.data[OFFICE] = office_id
    ctx.data[SURVEY] = {"office": office_id, "bk": booking_id, "day": day.isoformat(), "s": []}
    ctx.say(ctx.t("ikm.intro", count=COUNT))
    return QUESTION


async def survei(ctx: Context, args: str) -> str | None:
    """/survei (/survey): the survey the user was last invited to, typed (the console; WhatsApp
    outside its 24-hour window, where the invitation came as a template without buttons)."""
    found = await invited(ctx.deps.redis, ctx.identity)
    if found is None:
        ctx.say(ctx.t("ikm.no_invitation"))
        return MENU
    office_id, booking_id = found
    ctx.data.pop(SURVEY, None)
    return await follow(ctx, f"{TAKE}:{office_id}:{booking_id}")


class Question:
    name = QUESTION
    goes_to = (COMMENT,)

    async def ask(self, ctx: Context) -> Prompt:
        scores = _survey(ctx)["s"]
        element = ELEMENTS[len(scores)]
        text = ctx.t("ikm.ask", n=len(scores) + 1, count=COUNT, question=ctx.t(f"ikm.{element}_q"))
        options = [Option(str(s), ctx.t(f"ikm.{element}_{s}")) for s in SCORES]
        return Prompt(text, [*options, Option(STOP, ctx.t("ikm.stop"))])

    async def answer(self, ctx: Context, reply: Reply) -> str:
        survey = _survey(ctx)
        if reply.option == STOP:
            ctx.data.pop(SURVEY, None)
            ctx.say(ctx.t("ikm.stopped"))
            return MENU
        if reply.option is None or not reply.option.isdigit():
            return QUESTION
        survey["s"].append(int(reply.option))
        return COMMENT if len(survey["s"]) >= COUNT else QUESTION


class Comment:
    name = COMMENT
    goes_to = ()

    async def ask(self, ctx: Context) -> Prompt:
        if len(_survey(ctx)["s"]) != COUNT:
            raise Goto(MENU)
        return Prompt(ctx.t("ikm.comment"), [Option(SKIP, ctx.t("ikm.no_comment"))], free_text=True)

    async def answer(self, ctx: Context, reply: Reply) -> str:
        survey = _survey(ctx)
        day = parse_day(survey.get("day"))
        if day is None or len(survey["s"]) != COUNT:
            ctx.data.pop(SURVEY, None)
            return MENU
        comment = "" if reply.option == SKIP else reply.text
        office_id, booking_id = survey["office"], survey["bk"]
        outcome = await _surveys(ctx, office_id).record(
            booking_id, account=ctx.identity, day=day, scores=survey["s"], comment=comment
        )
        ctx.data.pop(SURVEY, None)
        if outcome != RECORDED:
            ctx.say(ctx.t(f"ikm.refused_{outcome}"))
            return MENU
        audit = ctx.deps.at(office_id).audit
        ctx.later(audit.entry(applicant(ctx.identity), "survey", "ok", booking=booking_id))
        ctx.say(ctx.t("ikm.thanks"))
        return MENU


def register(steps: Steps) -> None:
    steps.add(Question())
    steps.add(Comment())
    steps.link(LINK, follow, goes_to=(QUESTION,))
    steps.command("survei", survei, goes_to=(QUESTION,))
    steps.command("survey", survei, goes_to=(QUESTION,))
