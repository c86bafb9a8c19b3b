"""An application built on six, holding its objects across the upgrade.

Functions taken with ``from six import`` and ``from six.moves import``, the
``six.moves`` module object, and classes made with six's metaclass helpers.
"""

import six
from six import add_metaclass, iteritems, string_types, with_metaclass
from six.moves import range as six_range
from six.moves.urllib.parse import urlencode

MOVES = six.moves
REGISTERED = []


class Registry(type):
    """A metaclass the application's classes are made with through six."""

    def __init__(cls, name, bases, namespace):
        super().__init__(name, bases, namespace)
        REGISTERED.append(name)


class Plugin(with_metaclass(Registry, object)):
    pass


@add_metaclass(Registry)
class Other:
    pass


def check():
    assert isinstance("x", string_types) and dict(iteritems({"a": 1})) == {"a": 1}
    assert urlencode({"q": "a b"}) == "q=a+b" and list(six_range(3)) == [0, 1, 2]
    assert MOVES.reduce(lambda a, b: a + b, [1, 2, 3]) == 6
    assert type(Plugin) is Registry and type(Other) is Registry and "Plugin" in REGISTERED
