"""The board kernel: storage, transitions, reads and the dispatcher. Never imports Textual."""
