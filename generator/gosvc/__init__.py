"""gosvc: generate, check and smoke-test Go services from the copier-go-service template."""

# Exit codes every gosvc command uses.
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
