from kanban_tui.cli import main

raise SystemExit(main())
