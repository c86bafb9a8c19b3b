"""An application built on dateutil, holding its objects across the upgrade.

Functions taken with ``from dateutil import``, ``relativedelta``, ``rrule`` and
time zone instances made before the upgrade, and a subclass of ``relativedelta``.
"""

import datetime

from dateutil import parser, tz
from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, rrule

parse = parser.parse


class MonthEnd(relativedelta):
    """A subclass of one of dateutil's classes, as applications write them."""

    def __init__(self):
        super().__init__(day=31)


NEXT_MONTH = relativedelta(months=+1)
RULE = rrule(DAILY, count=3, dtstart=datetime.datetime(2024, 1, 30))
UTC = tz.tzutc()
NEW_YORK = tz.gettz("America/New_York")


def check():
    when = parse("2024-01-31T12:00:00+00:00")
    assert when + NEXT_MONTH == datetime.datetime(2024, 2, 29, 12, tzinfo=UTC)
    assert [day.day for day in RULE] == [30, 31, 1]
    assert datetime.datetime(2024, 1, 5) + MonthEnd() == datetime.datetime(2024, 1, 31)
    assert when.astimezone(NEW_YORK).hour == 7
    assert isinstance(NEXT_MONTH, relativedelta) and isinstance(MonthEnd(), relativedelta)
