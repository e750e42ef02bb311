"""`python -m gateway` serves the gateway, like the `recgpt-gateway` script."""

from gateway.main import main

main()
