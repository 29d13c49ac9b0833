from gomodel.cli import main

raise SystemExit(main())
