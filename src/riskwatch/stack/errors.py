"""Errors the stack runner reports to the operator as one line."""


class StackError(Exception):
    """A stack operation failed; the message is phrased for the operator."""
