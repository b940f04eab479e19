"""Local Alpaca auth/API emulator serving real HTTP on loopback. Never imports Textual."""
