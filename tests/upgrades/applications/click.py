"""An application built on click, holding its objects across the upgrade.

A command group of a subclass of ``click.Group``, commands built by click's
decorators, a ``CliRunner`` instance, and names taken with ``from click import``.
"""

import click
from click import echo, option
from click.testing import CliRunner


class AliasedGroup(click.Group):
    """A subclass of one of click's classes, as applications write them."""

    def get_command(self, ctx, cmd_name):
        return super().get_command(ctx, {"hi": "hello"}.get(cmd_name, cmd_name))


@click.group(cls=AliasedGroup)
def cli():
    """The application's command line."""


@cli.command()
@option("--name", default="world")
def hello(name):
    echo(f"hello {name}")


RUNNER = CliRunner()


def check():
    result = RUNNER.invoke(cli, ["hi", "--name", "ada"])
    assert (result.exit_code, result.output) == (0, "hello ada\n"), (result.exit_code, result.output, result.exception)
    assert isinstance(cli, click.Group) and isinstance(hello, click.Command)
