"""Widgets of the board app: columns of cards, top bar, attention strip, dispatcher status, drawer parts."""
