package respond

import (
	"context"
	"errors"
	"net/http"
)

// StatusClientClosedRequest is nginx's 499: the client went away before the answer was
// ready. No client ever reads it; it exists so that logs and metrics tell such a request
// apart from the service's own failures.
const StatusClientClosedRequest = 499

// Problem codes of a request whose context ended before its handler finished.
const (
	CodeDeadlineExceeded    = "deadline_exceeded"
	CodeClientClosedRequest = "client_closed_request"
)

// ContextProblem is the answer to a request whose context ended: ctxErr is the error of
// r.Context() (or an error that wraps it), and ok is false when it is neither of the two.
//
//   - Past the request deadline (HTTP_REQUEST_TIMEOUT): 503, the status http.TimeoutHandler
//     also sends. It is the service, not an upstream of a gateway, that ran out of time, so
//     504 would mislead; the client may retry.
//   - Canceled: the client went away (or the server is closing the connection). 499, which
//     nobody receives, and nothing worth an error log.
func ContextProblem(ctxErr error) (p Problem, ok bool) {
	switch {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return Problem{
			Status: http.StatusServiceUnavailable,
			Detail: "the request was not completed within the service's time limit",
			Code:   CodeDeadlineExceeded,
		}, true
	case errors.Is(ctxErr, context.Canceled):
		return Problem{
			Status: StatusClientClosedRequest,
			Title:  "Client Closed Request",
			Detail: "the client closed the request before the answer was ready",
			Code:   CodeClientClosedRequest,
		}, true
	}
	return Problem{}, false
}
