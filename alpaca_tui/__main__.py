from alpaca_tui.cli.main import main

raise SystemExit(main())
