"""Errors gosvc reports as one line and exit code 2."""


class InputError(Exception):
    """Bad input from the user (an answer, a path, an option): nothing was written.

    The message is one line that names what was wrong and the rule it broke.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self.args[0])
