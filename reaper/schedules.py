"""Pure: crontab expressions as the daemon's scheduler (APScheduler 3) reads them.

One parser for both sides: the config checks ``daemon.schedule.cron`` and
``daemon.providers.<name>.cron`` with :func:`cron_trigger` when it is loaded, so
``reaper validate`` refuses what the daemon would refuse, and the daemon builds its
triggers with the same function. Imports no cloud SDK.
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
_LABELS = {"day": "day of month", "day_of_week": "day of week"}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)
"""Where :func:`cron_trigger` looks for fire times. The Gregorian calendar, weekdays
included, repeats every 400 years, so an expression that fires twice after any date fires
twice after every date."""


def cron_trigger(expression: str) -> CronTrigger:
    """The UTC trigger of a five-field crontab expression. Pure.

    Raises ValueError, starting with the expression, when crontab or the scheduler would
    refuse it: not five fields, a value out of range (``61 * * * *``), a day of the month
    together with a day of the week (crontab runs on either, the scheduler only on both),
    or a date that never comes (``0 0 30 2 *``). Consumed by the config's ``Schedule`` and
    by the daemon.
    """
    values = expression.split()
    if len(values) != len(_FIELDS):
        raise ValueError(f"{expression!r} is not a five-field cron expression")
    fields = dict(zip(_FIELDS, values, strict=True))
    if fields["day"] != "*" and fields["day_of_week"] != "*":
        raise ValueError(
            f"{expression!r}: give a day of the month or a day of the week, not both "
            "(crontab runs on either, the scheduler only on both)"
        )
    try:
        fields["day_of_week"] = crontab_weekdays(fields["day_of_week"])
    except ValueError as err:
        raise ValueError(f"{expression!r}: {err}") from None
    for name, value in fields.items():  # one at a time, to name the field at fault
        try:
            CronTrigger(**{name: value}, timezone=UTC)
        except ValueError as err:
            label = _LABELS.get(name, name)
            given = values[_FIELDS.index(name)]
            raise ValueError(f"{expression!r}: {label} {given!r}: {err}") from None
    trigger = CronTrigger(**fields, timezone=UTC)
    first = trigger.get_next_fire_time(None, _REFERENCE)
    if first is None or trigger.get_next_fire_time(first, first) is None:
        raise ValueError(f"{expression!r} never fires")
    return trigger


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler 3 reads it. Pure.

    crontab counts from Sunday (0 or 7); APScheduler 3's ``from_crontab`` counts from
    Monday, so ``1-5`` would run Tuesday to Saturday. Numbers become day names here.
    Raises ValueError on a field crontab would refuse.
    """
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.split(","):
        spec, slash, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else 0
        if slash and not step:
            raise ValueError(f"day of week {item!r}: bad step")
        if spec == "*":
            first, last = 0, 6
        elif "-" in spec:
            start, _, end = spec.partition("-")
            first, last = _weekday(start), _weekday(end)
            if last == 0 and end != "0":  # 7 or "sun" closing a range: the end of the week
                last = 7
            if last < first:
                raise ValueError(f"day of week {item!r}: the range runs backwards")
        else:
            first = _weekday(spec)
            last = 6 if slash else first
        days.update(day % 7 for day in range(first, last + 1, step or 1))
    return ",".join(_DAYS[day] for day in sorted(days))


def _weekday(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text) % 7
    if text.lower() in _DAYS:
        return _DAYS.index(text.lower())
    raise ValueError(f"{text!r} is not a day of the week (0-7 or sun-sat)")


__all__ = ["cron_trigger", "crontab_weekdays"]
