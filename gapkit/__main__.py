from gapkit.cli.main import entry

entry()
