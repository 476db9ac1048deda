"""Did-you-mean hints for unknown names (option keys, registered types)."""
import difflib


def did_you_mean(name, candidates):
    """`` Did you mean 'x'?`` for the candidate closest to ``name``, or an empty string."""
    match = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1)
    return f' Did you mean {match[0]!r}?' if match else ''
