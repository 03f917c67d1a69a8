"""Failures the run command explains in one message before it stops everything."""


class StackError(RuntimeError):
    pass
