"""The sandbox, in layers: static checks, a minimal namespace, the dry run, the worker jail."""
