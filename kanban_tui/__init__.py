"""kanban-tui: a terminal control room for a fleet of agent workers."""

__version__ = "0.1.0"
