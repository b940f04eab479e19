"""The Textual terminal UI. Imports core; nothing imports it but cli.main's no-argument path."""
