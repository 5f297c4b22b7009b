"""`ordering`, the command line: a client of the three services' HTTP APIs, for people and scripts.

arguments.py   what it accepts, the help, the exit codes
values.py      what each value on the command line must be (PRODUCT:QUANTITY, a URL, a token, ...)
api.py         where the services are; every answer sorted into answer / refusal / unavailable
commands.py    one function per command, and the `tail --follow` loop
tables.py      the JSON laid out for a person
tokens.py      `ordering token` (the local key's tokens) and the hints for a missing token or role
program.py     main(): parse, run, and report a failure in one line with its exit code
"""

from entrypoints.cli.program import main

__all__ = ["main"]
