"""`python -m aftersales_cli`, the same as the `aftersales` console script."""

from aftersales_cli.main import main

main()
