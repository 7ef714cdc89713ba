"""What every subcommand shares: a parser whose usage errors are one line, and the ``Command`` shape."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Command:
    """One subcommand, as asv writes its commands: ``setup_arguments`` adds its parser, ``run`` carries it out.

    A subclass names itself (``name``), says what it does in one line (``help``, in ``suite --help``) and in a
    paragraph (``description``, in ``suite NAME --help``), adds its options in ``arguments`` and returns the
    exit code from ``run``.
    """

    name = ""
    help = ""
    description = ""

    @classmethod
    def parents(cls) -> list[argparse.ArgumentParser]:
        """Parsers whose options this command shares with others (``argparse``'s ``parents=``); none by default."""
        return []

    @classmethod
    def setup_arguments(cls, subparsers: Any) -> argparse.ArgumentParser:
        """Adds this command's parser to ``subparsers`` (from ``add_subparsers``) and returns it."""
        parser = subparsers.add_parser(cls.name, help=cls.help, description=cls.description, parents=cls.parents())
        cls.arguments(parser)
        parser.set_defaults(func=cls.run)
        return parser

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Adds the command's own positional arguments and options."""

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Carries the command out; returns the exit code (0 all good, 1 some case failed or regressed)."""
        raise NotImplementedError
