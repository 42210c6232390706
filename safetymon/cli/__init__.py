"""The one `safetymon` command line tool; each subcommand group lives in its own module."""
