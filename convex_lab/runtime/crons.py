"""Cron definitions: the schedule methods, Convex's schedule specs, and when a cron runs next.

`CronDefinitions` holds the methods of Convex's `cronJobs()` (`interval`, `hourly`, `daily`,
`weekly`, `monthly`, `cron`), which check their arguments as Convex's client does and turn them
into Convex's spec (`{"type": "daily", "hourUTC": 17, "minuteUTC": 30}`). Two classes use them:
`CronJobs` (`cron_jobs()` in a functions directory's `crons.py`: it only collects definitions,
and a name defined twice is an error, as in Convex) and `app.crons` (runtime/cron_runner.py,
which installs each definition at once and runs it).

Times are UTC. Convex spreads calendar crons over their minute with a stable random offset (and,
when `minuteUTC` is omitted, over the hour); convex_lab runs them at the exact minute, and for an
omitted minute picks a stable one from the cron's name, so `nextRun` is exact and reproducible.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from typing import Any

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

DAYS_OF_WEEK = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_IDENTIFIER = re.compile(r"^[ -~]*$")  # printable ASCII, as Convex's cron identifiers
_UTC = _dt.timezone.utc


class CronDef:
    """One cron as defined: its name, Convex's schedule spec, the function (a handle, a spec of
    a functions directory or a path, resolved when installed) and its arguments."""

    __slots__ = ("name", "schedule", "function", "args")

    def __init__(self, name: str, schedule: dict, function: Any, args: Any) -> None:
        self.name = name
        self.schedule = schedule
        self.function = function
        self.args = args

    def __repr__(self) -> str:
        return f"CronDef({self.name!r}, {self.schedule!r})"


class CronDefinitions:
    """The schedule methods of `cron_jobs()` and `app.crons`; each calls `self._define(CronDef)`.

    Every method takes the cron's `name` (unique), the function (`fn`: a mutation or action, as
    a handle or a path) and its `args` (a dict, default none). Times are UTC.
    """

    def _define(self, definition: CronDef) -> None:  # pragma: no cover - each subclass has its own
        raise NotImplementedError

    def interval(self, name: str, fn: Any, *, seconds: int | None = None, minutes: int | None = None,
                 hours: int | None = None, args: dict | None = None) -> None:
        """Run `fn` every `seconds`, `minutes` or `hours` (exactly one, a positive integer).

        The first run is at once (when the cron is first defined), then one every interval
        after the previous run's scheduled time.

        Raises:
            ValueError: Not exactly one unit, or not a positive integer.
        """
        given = {unit: value for unit, value in (("seconds", seconds), ("minutes", minutes), ("hours", hours))
                 if value is not None}
        if len(given) != 1:
            raise ValueError("Must specify one of seconds, minutes, or hours for an interval cron "
                             f"(got {', '.join(given) or 'none'}).")
        [(unit, value)] = given.items()
        if not _is_int(value) or value <= 0:
            raise ValueError(f"Interval must be an integer greater than 0, got {unit}={value!r}.")
        self._define(CronDef(_identifier(name), {"type": "interval", unit: int(value)}, fn, args))

    def hourly(self, name: str, fn: Any, *, minute_utc: int | None = None, args: dict | None = None) -> None:
        """Run `fn` every hour at `minute_utc` (without it, at a minute chosen from the name)."""
        self._define(CronDef(_identifier(name), _with_minute({"type": "hourly"}, minute_utc), fn, args))

    def daily(self, name: str, fn: Any, *, hour_utc: int, minute_utc: int | None = None,
              args: dict | None = None) -> None:
        """Run `fn` every day at `hour_utc`:`minute_utc` UTC."""
        schedule = {"type": "daily", "hourUTC": _hour(hour_utc)}
        self._define(CronDef(_identifier(name), _with_minute(schedule, minute_utc), fn, args))

    def weekly(self, name: str, fn: Any, *, day_of_week: str, hour_utc: int, minute_utc: int | None = None,
               args: dict | None = None) -> None:
        """Run `fn` every week on `day_of_week` (`"monday"`, ...) at `hour_utc`:`minute_utc` UTC."""
        if day_of_week not in DAYS_OF_WEEK:
            raise ValueError(f'Day of week must be a string like "monday", got {day_of_week!r}.')
        schedule = {"type": "weekly", "dayOfWeek": day_of_week, "hourUTC": _hour(hour_utc)}
        self._define(CronDef(_identifier(name), _with_minute(schedule, minute_utc), fn, args))

    def monthly(self, name: str, fn: Any, *, day: int, hour_utc: int, minute_utc: int | None = None,
                args: dict | None = None) -> None:
        """Run `fn` every month on `day` (1-31; months without that day are skipped) at
        `hour_utc`:`minute_utc` UTC."""
        if not _is_int(day) or not 1 <= day <= 31:
            raise ValueError(f"Day of month must be an integer from 1 to 31, got {day!r}.")
        schedule = {"type": "monthly", "day": int(day), "hourUTC": _hour(hour_utc)}
        self._define(CronDef(_identifier(name), _with_minute(schedule, minute_utc), fn, args))

    def cron(self, name: str, cron: str, fn: Any, args: dict | None = None) -> None:
        """Run `fn` at the times of a standard 5-field cron expression (`"0 16 1 * *"`: minute,
        hour, day of month, month, day of week), in UTC. Convex's argument order: the
        expression comes before the function.

        Raises:
            ValueError: The expression is not 5 valid fields, or never matches.
        """
        if type(cron) is not str or len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise ValueError(f"Invalid cron expression {cron!r}: expected 5 fields, "
                             '"minute hour day-of-month month day-of-week", such as "0 16 1 * *".')
        try:
            croniter(cron, _dt.datetime(2000, 1, 1, tzinfo=_UTC)).get_next(float)
        except (CroniterBadDateError, CroniterBadCronError):
            raise ValueError(f"The cron expression {cron!r} never matches a date.") from None
        self._define(CronDef(_identifier(name), {"type": "cron", "cron": cron}, fn, args))


class CronJobs(CronDefinitions):
    """The crons of a functions directory: `crons.py` sets `crons = cron_jobs()` and defines them
    with the methods of `app.crons`; `app.load_functions(dir)` installs them.

    Examples:
        >>> crons = cron_jobs()
        >>> crons.daily("reset scores", "scores:reset", hour_utc=17, minute_utc=30)
        >>> crons
        <convex_lab cron_jobs: reset scores>
    """

    def __init__(self) -> None:
        self.definitions: dict[str, CronDef] = {}

    def _define(self, definition: CronDef) -> None:
        if definition.name in self.definitions:
            raise ValueError(f"Cron identifier registered twice: {definition.name}")
        self.definitions[definition.name] = definition

    def __repr__(self) -> str:
        return f"<convex_lab cron_jobs: {', '.join(self.definitions) or 'none'}>"


def cron_jobs() -> CronJobs:
    """A new set of cron definitions, for a functions directory's `crons.py` (`crons =
    cron_jobs()`), as Convex's `cronJobs()`."""
    return CronJobs()


# -- when a cron runs ------------------------------------------------------------------------


def interval_ms(schedule: dict) -> float | None:
    """The period of an interval schedule in milliseconds; None for calendar schedules."""
    if schedule["type"] != "interval":
        return None
    for unit, factor in (("seconds", 1_000), ("minutes", 60_000), ("hours", 3_600_000)):
        if unit in schedule:
            return float(schedule[unit] * factor)
    raise ValueError(f"Malformed interval schedule {schedule!r}")


def cron_expression(schedule: dict, name: str) -> str:
    """The 5-field cron expression of a calendar schedule (an omitted minute: the name's)."""
    kind = schedule["type"]
    if kind == "cron":
        return schedule["cron"]
    minute = schedule.get("minuteUTC", stable_minute(name))
    if kind == "hourly":
        return f"{minute} * * * *"
    hour = schedule["hourUTC"]
    if kind == "daily":
        return f"{minute} {hour} * * *"
    if kind == "weekly":
        return f"{minute} {hour} * * {DAYS_OF_WEEK.index(schedule['dayOfWeek'])}"
    if kind == "monthly":
        return f"{minute} {hour} {schedule['day']} * *"
    raise ValueError(f"Unknown cron schedule type {kind!r}")


def first_run(schedule: dict, name: str, now_ms: float) -> float:
    """When a newly defined cron runs first: at once for an interval, else the next match."""
    if schedule["type"] == "interval":
        return now_ms
    return next_match(schedule, name, now_ms)


def next_match(schedule: dict, name: str, after_ms: float) -> float:
    """The first scheduled time strictly after `after_ms` (epoch ms)."""
    period = interval_ms(schedule)
    if period is not None:
        return after_ms + period
    start = _dt.datetime.fromtimestamp(after_ms / 1000.0, _UTC)
    return croniter(cron_expression(schedule, name), start).get_next(float) * 1000.0


def next_after_run(schedule: dict, name: str, scheduled_ms: float, now_ms: float) -> tuple[float, int]:
    """After the run scheduled at `scheduled_ms` finished at `now_ms`: the next run time, and how
    many scheduled times before it are already past (skipped, as Convex skips them)."""
    following = next_match(schedule, name, scheduled_ms)
    if following > now_ms:
        return following, 0
    period = interval_ms(schedule)
    if period is not None:
        missed = int((now_ms - following) // period) + 1
        return following + missed * period, missed
    future = next_match(schedule, name, now_ms)
    missed, moment = 0, following
    while moment < future and missed < 100_000:  # count them (a minutely cron over a week: 10,080)
        missed += 1
        moment = next_match(schedule, name, moment)
    return future, missed


def stable_minute(name: str) -> int:
    """The minute a calendar cron without `minuteUTC` runs at: stable, spread by its name."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big") % 60


def _identifier(name: Any) -> str:
    if type(name) is not str:
        raise TypeError(f"A cron's name must be a string, got {type(name).__name__}.")
    if not _IDENTIFIER.match(name):
        raise ValueError(f"Invalid cron identifier {name!r}: use ASCII letters that are not control characters.")
    return name


def _hour(hour: Any) -> int:
    if not _is_int(hour) or not 0 <= hour <= 23:
        raise ValueError(f"Hour of day must be an integer from 0 to 23, got {hour!r}.")
    return int(hour)


def _with_minute(schedule: dict, minute: Any) -> dict:
    if minute is not None:
        if not _is_int(minute) or not 0 <= minute <= 59:
            raise ValueError(f"Minute of hour must be an integer from 0 to 59, got {minute!r}.")
        schedule["minuteUTC"] = int(minute)
    return schedule


def _is_int(value: Any) -> bool:
    return (type(value) is int) or (isinstance(value, float) and value.is_integer())
