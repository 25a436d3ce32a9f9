from svhn_api.cli import main

raise SystemExit(main())
