__version__ = "0.1.0"

from pdeflow.threads import set_threads  # noqa: E402 (light: imports only pdeflow.errors)

__all__ = ["__version__", "set_threads"]
