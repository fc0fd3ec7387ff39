import sys

from pgc.cli import main

sys.exit(main())
