"""Domain model, secret store and auth engine. Never imports Textual."""
