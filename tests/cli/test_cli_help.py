"""`--help`: every verb's renders, and every argument and verb says what it is for."""

from __future__ import annotations

import argparse

import pytest

from kanban_tui.cli import build_parser, main


def verb_parsers() -> dict[str, argparse.ArgumentParser]:
    [verbs] = [action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)]
    return {name: parser for name, parser in verbs.choices.items() if name == parser.prog.split()[-1]}


VERBS = sorted(verb_parsers())


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_help_renders_with_a_description(verb, capsys):
    assert main([verb, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: kanban-tui {verb} ")
    assert verb_parsers()[verb].description


def test_every_argument_and_verb_has_help():
    parser = build_parser()
    missing = []
    for owner in (parser, *verb_parsers().values()):
        for action in owner._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"verb {choice.dest}" for choice in action._choices_actions if not choice.help]
            elif not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{owner.prog} {action.option_strings or action.dest}")
    assert missing == []


@pytest.mark.parametrize("verb", ["create", "complete", "block", "tool", "dispatch", "watch"])
def test_verbs_with_many_shapes_show_examples(verb, capsys):
    main([verb, "--help"])
    assert f"\n  kanban-tui {verb} " in capsys.readouterr().out.split("examples:")[1]


def test_top_level_help_points_to_the_demo_verb_help_and_readme(capsys):
    assert main(["--help"]) == 0
    epilog = capsys.readouterr().out.split("start here:")[1]
    assert "kanban-tui demo" in epilog and "kanban-tui VERB --help" in epilog and "README" in epilog
