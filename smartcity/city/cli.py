"""``smartcity city ...`` commands (generate, show, credentials)."""

import typer

app = typer.Typer(help="Generate, inspect and validate city models.", no_args_is_help=True)
