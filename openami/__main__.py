import sys

from openami.cli.main import main

sys.exit(main())
