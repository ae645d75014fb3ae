"""Cron expressions in words, as Airflow's UI shows them ("At 02:00, only on Monday").

Airflow describes a cron with the ``cron-descriptor`` package (English, 24-hour clock) and,
when both day-of-month and day-of-week are restricted, describes each alone joined by
``" (or) "`` (cron fires when either matches). This module gives the same text for the
five-field expressions schedules use, without the dependency; anything it cannot describe
(and six-field expressions, as in Airflow) gives ``""``.

>>> describe_cron("30 21 * * 5")
'At 21:30, only on Friday'
>>> describe_cron("*/15 9-17 * * 1-5")
'Every 15 minutes, between 09:00 and 17:59, Monday through Friday'
>>> describe_cron("0 0 1,15 * 1")
'At 00:00, on day 1 and 15 of the month (or) At 00:00, only on Monday'
"""

from __future__ import annotations

import re
from collections.abc import Callable

DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAY_ABBR = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_MONTH_ABBR = [m[:3].upper() for m in MONTHS]
_NTH = {"1": "first", "2": "second", "3": "third", "4": "fourth", "5": "fifth"}
_SPECIAL = ("/", "-", ",", "*")

Text = Callable[[str], str]


def describe_cron(expression: str) -> str:
    """English for a five-field cron expression; ``""`` if it cannot be described."""
    fields = expression.split()
    if len(fields) != 5:
        return ""
    try:
        dom, dow = fields[2], fields[4]
        if dom != "*" and dow != "*":
            by_dom = _describe([*fields[:4], "*"])
            by_dow = _describe([*fields[:2], "*", fields[3], dow])
            return f"{by_dom} (or) {by_dow}"
        return _describe(fields)
    except Exception:
        return ""


def _normalize(fields: list[str]) -> list[str]:
    minute, hour, dom, month, dow = fields
    dom, dow = dom.replace("?", "*"), dow.replace("?", "*")
    minute = "*/" + minute[2:] if minute.startswith("0/") else minute
    hour = "*/" + hour[2:] if hour.startswith("0/") else hour
    dom = "*/" + dom[2:] if dom.startswith("1/") else dom
    month = "*/" + month[2:] if month.startswith("1/") else month
    dow = "*/" + dow[2:] if dow.startswith("1/") else dow
    dow = re.sub(r"(^\d)|([^#/\s]\d)", lambda m: m.group().replace("7", "0"), dow).upper()
    for number, name in enumerate(_DAY_ABBR):
        dow = dow.replace(name, str(number))
    month = month.upper()
    for number, name in enumerate(_MONTH_ABBR, start=1):
        month = month.replace(name, str(number))
    if not any(c in hour for c in "*-,/") and any(c in minute for c in "*/"):
        hour = f"{hour}-{hour}"  # "*/5 3 * * *": every 5 minutes between 03:00 and 03:59
    parts = [minute, hour, dom, month, dow]
    for i, part in enumerate(parts):
        if part == "*/1":
            parts[i] = part = "*"
        if "/" in part and not any(c in part for c in "*-,") and i in (3, 4):
            start, step = part.split("/")
            parts[i] = f"{start}-{12 if i == 3 else 6}/{step}"
    return parts


def _describe(fields: list[str]) -> str:
    minute, hour, dom, month, dow = _normalize(fields)
    text = (
        _time_of_day(minute, hour)
        + _day_of_month(dom, dow)
        + _day_of_week(dow, dom)
        + _segment(
            month,
            "",
            _month_name,
            ", every {0} months",
            ", {0} through {1}",
            lambda _: ", only in {0}",
            ", {0} through {1}",
        )
    )
    for filler in (", every minute", ", every hour", ", every day"):
        text = text.replace(filler, "")
    text = re.sub(r", ?$", "", text)
    return text[0].upper() + text[1:]


def _time(hour: str, minute: str) -> str:
    return f"{int(hour):02d}:{int(minute):02d}"


def _month_name(s: str) -> str:
    return MONTHS[int(s) - 1]


def _day_name(s: str) -> str:
    return DAYS[int(s.split("#")[0].replace("L", ""))]


def _time_of_day(minute: str, hour: str) -> str:
    plain_minute = not any(c in minute for c in _SPECIAL)
    plain_hour = not any(c in hour for c in _SPECIAL)
    if plain_minute and plain_hour:
        return f"At {_time(hour, minute)}"
    if "-" in minute and "," not in minute and plain_hour:
        first, last = minute.split("-")[:2]
        return f"Every minute between {_time(hour, first)} and {_time(hour, last)}"
    if "," in hour and "-" not in hour and plain_minute:
        each_hour = hour.split(",")
        listed = ""
        for i, h in enumerate(each_hour):
            listed += " " + _time(h, minute)
            if i < len(each_hour) - 2:
                listed += ","
            if i == len(each_hour) - 2:
                listed += " and"
        return "At" + listed
    hour_range = "-" in hour and not any(c in hour for c in "/,")

    def minute_format(s: str) -> str:
        return "" if s == "0" and not hour_range else "at {0} minutes past the hour"

    minutes = _segment(
        minute,
        "every minute",
        str,
        "every {0} minutes",
        "minutes {0} through {1} past the hour",
        minute_format,
        ", {0} through {1}",
    )
    hours = _segment(
        hour,
        "every hour",
        lambda s: _time(s, "0"),
        "every {0} hours",
        "between {0} and {1}",
        lambda _: "at {0}",
        ", {0} through {1}",
    )
    return ", ".join(part for part in (minutes, hours) if part)


def _day_of_month(dom: str, dow: str) -> str:
    if dom == "L":
        return ", on the last day of the month"
    if dom in ("LW", "WL"):
        return ", on the last weekday of the month"
    weekday = re.match(r"(\d{1,2}W)|(W\d{1,2})", dom)
    if weekday:
        day = int(weekday.group().replace("W", ""))
        nearest = "first weekday" if day == 1 else f"weekday nearest day {day}"
        return f", on the {nearest} of the month"
    if dom == "*" and dow != "*":
        return ""
    before_last = re.match(r"L-(\d{1,2})", dom)
    if before_last:
        return f", {before_last.group(1)} days before the last day of the month"
    return _segment(
        dom,
        ", every day",
        str,
        lambda s: ", every day" if s == "1" else ", every {0} days",
        ", between day {0} and {1} of the month",
        lambda _: ", on day {0} of the month",
        ", {0} through {1}",
    )


def _day_of_week(dow: str, dom: str) -> str:
    if dow == "*":
        return ""

    def dow_format(s: str) -> str:
        if "#" in s:
            return f", on the {_NTH.get(s[s.find('#') + 1 :], '')} {{0}} of the month"
        if "L" in s:
            return ", on the last {0} of the month"
        return ", or on {0}" if dom != "*" else ", only on {0}"

    if "/" in dow and dow.split("/", 1)[1].isdigit():
        base, step = dow.split("/", 1)
        days = None
        if "," in base:
            days = _segment(
                base,
                "",
                _day_name,
                ", every {0} days of the week",
                ", {0} through {1}",
                lambda _: ", only on {0}",
                ", {0} through {1}",
            )
        elif "-" in base:
            first, last = base.split("-")
            if int(step) >= (int(last) or 7) - int(first) + 1:
                if int(last) == 6:
                    days = f", only on {_day_name(first)}"
                else:
                    days = _between(base, lambda _: ", {0} through {1}", _day_name)
        if days is not None:
            return f", every {step} weeks{days}"
    return _segment(
        dow,
        ", every day",
        _day_name,
        ", every {0} days of the week",
        ", {0} through {1}",
        dow_format,
        ", {0} through {1}",
    )


def _between(expression: str, fmt: Text, item: Text) -> str:
    first, last = expression.split("-")[:2]
    return fmt(expression).format(item(first), item(last).replace(":00", ":59"))


def _segment(
    expression: str,
    every: str,
    item: Text,
    interval: str | Text,
    between: str,
    fmt: Text,
    range_fmt: str,
) -> str:
    """One field in words: ``*``, a value, a list, a step, or a range."""
    step_text: Text = interval if callable(interval) else (lambda _: str(interval))
    if not expression:
        return ""
    if expression == "*":
        return every
    if not any(c in expression for c in "/-,"):
        return fmt(expression).format(item(expression))
    if "," in expression:
        segments = expression.split(",")
        content = ""
        for i, segment in enumerate(segments):
            if i > 0 and len(segments) > 2:
                content += "," + (" " if i < len(segments) - 1 else "")
            if i > 0 and (i == len(segments) - 1 or len(segments) == 2):
                content += " and "
            if "/" in segment:
                start, step = segment.split("/")
                part = step_text(step).format(step).removeprefix(", ")
                if "-" in start:
                    part += ", " + _between(start, lambda _: range_fmt, item).replace(", ", "")
                elif start != "*":
                    part += f", starting {item(start)}"
                content += part
            elif "-" in segment:
                content += _between(segment, lambda _: range_fmt, item).replace(", ", "")
            else:
                content += item(segment)
        return fmt(expression).format(content)
    if "/" in expression:
        start, step = expression.split("/")[:2]
        text = step_text(step).format(step)
        if "-" in start:
            span = _between(start, lambda _: between, item)
            text += ("" if span.startswith(", ") else ", ") + span
        elif not any(c in start for c in "*,"):
            text += ", starting " + fmt(start).format(item(start)).replace(", ", "")
        return text
    return _between(expression, lambda _: between, item)
