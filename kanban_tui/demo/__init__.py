"""`kanban-tui demo`: a live board on which scripted workers play the four stories.

  stories.py  every demo card and the lines its worker plays (summary, metadata, heartbeat
              notes, comments, a first-attempt block, crash or hang, follow-ups to create)
  home.py     the demo's own home, its config.yaml (profiles that run worker.py with this
              Python; deploy-bot's command does not exist) and --reset
  seed.py     the cards onto the board through the kernel, idempotently
  worker.py   the scripted worker the dispatcher spawns as a real process; it changes the
              board only through the worker tools

Nobody has to press a key for the stories to finish: the role pipeline's review block is
answered by the "Demo operator" card, an orchestrator worker that waits until the card
blocks, comments and unblocks it a few seconds later (what an operator does with `U`).
Keeping the operator on the board, instead of in the command, means the headless
`kanban-tui --home <demo home> --dispatch-only` plays the same demo.
"""
