"""`python -m stinger.testing` runs a reference server (same as `python -m stinger.testing.servers`)."""

from stinger.testing.servers import main

if __name__ == "__main__":
    main()
