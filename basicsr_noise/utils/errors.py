"""The errors a user's input raises: the command line prints their message alone, everything else keeps its
traceback."""


class InputError(ValueError):
    """A file, option or value given by the user that cannot be used; the message names it."""
