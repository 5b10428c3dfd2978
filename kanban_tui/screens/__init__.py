"""Screens of the board app: the board, the task drawer, forms, event tail, help."""
