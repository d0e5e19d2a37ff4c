"""``python -m stinger.demo``: the same as ``stinger serve-demo``."""

from stinger.demo.cli import serve_demo

if __name__ == "__main__":
    serve_demo(prog_name="python -m stinger.demo")
