"""An application built on toolz, holding its objects across the upgrade.

Functions taken with ``from toolz import``, curried functions and a ``Compose``
instance made before the upgrade, and a subclass of ``curry``.
"""

from toolz import compose, curry, groupby, pipe
from toolz.functoolz import Compose


class counted(curry):
    """A subclass of one of toolz's classes, as applications write them: counts its calls."""

    calls = 0

    def __call__(self, *args, **kwargs):
        type(self).calls += 1
        return super().__call__(*args, **kwargs)


@curry
def add(x, y):
    return x + y


@counted
def mul(x, y):
    return x * y


inc = add(1)
double = mul(2)
SHOUT = compose(str.upper, str.strip)


def check():
    assert (inc(1), double(4), SHOUT(" a ")) == (2, 8, "A")
    assert pipe(3, inc, double) == 8
    assert groupby(len, ["a", "bb", "c"]) == {1: ["a", "c"], 2: ["bb"]}
    assert isinstance(SHOUT, Compose) and isinstance(double, curry)
