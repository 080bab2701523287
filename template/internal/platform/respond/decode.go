package respond

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
)

// Problem codes of the request-decoding failures.
const (
	CodeInvalidArgument      = "invalid_argument"
	CodeRequestTooLarge      = "request_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeInternal             = "internal"
)

// DecodeJSON decodes the request body, a single JSON value, into dst. It is strict: a
// Content-Type other than JSON is 415; unknown fields, malformed or truncated JSON, a wrong
// field type and anything after the value are 400; a body over the limit set by
// http.MaxBytesReader (the body-limit middleware) is 413. On failure it writes the problem
// itself and returns false, so a handler just returns.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	if !isJSON(r.Header.Get("Content-Type")) {
		WriteProblem(w, Problem{
			Status: http.StatusUnsupportedMediaType,
			Detail: "request body must be JSON, sent with Content-Type: application/json",
			Code:   CodeUnsupportedMediaType,
		})
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		// A JSON stream may hold more values; a request body holds exactly one.
		_, err = dec.Token()
		if errors.Is(err, io.EOF) {
			return true
		}
		var syntax *json.SyntaxError
		if err == nil || errors.As(err, &syntax) {
			err = errTrailingData
		}
	}
	WriteProblem(w, decodeProblem(err))
	return false
}

// isJSON reports whether a Content-Type names JSON: application/json or a structured +json
// type (RFC 6839), parameters such as charset allowed. A missing type is not JSON. Refusing
// the rest also refuses the cross-site form posts a browser sends without a CORS preflight
// (text/plain, application/x-www-form-urlencoded, multipart/form-data).
func isJSON(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mediaType == "application/json" ||
		(strings.HasPrefix(mediaType, "application/") && strings.HasSuffix(mediaType, "+json"))
}

var errTrailingData = errors.New("trailing data after the JSON value")

// decodeProblem maps a decoding error to what the client is told.
func decodeProblem(err error) Problem {
	var (
		tooLarge  *http.MaxBytesError
		syntax    *json.SyntaxError
		wrongType *json.UnmarshalTypeError
		badTarget *json.InvalidUnmarshalError
	)
	invalid := func(detail string) Problem {
		return Problem{Status: http.StatusBadRequest, Detail: detail, Code: CodeInvalidArgument}
	}
	switch {
	case errors.As(err, &tooLarge):
		return Problem{
			Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("request body is larger than %d bytes", tooLarge.Limit),
			Code:   CodeRequestTooLarge,
		}
	case errors.Is(err, errTrailingData):
		return invalid("request body must hold a single JSON value, with nothing after it")
	case errors.Is(err, io.EOF):
		return invalid("request body is empty; a JSON value is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("request body is truncated JSON")
	case errors.As(err, &syntax):
		return invalid(fmt.Sprintf("request body is not valid JSON (at byte %d)", syntax.Offset))
	case errors.As(err, &wrongType):
		if wrongType.Field == "" {
			return invalid(fmt.Sprintf("request body must be a JSON object, not %s", wrongType.Value))
		}
		return invalid(fmt.Sprintf("field %q has the wrong type: got a JSON %s", wrongType.Field, wrongType.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this; its message is documented behaviour
		// of DisallowUnknownFields.
		return invalid("request body has an unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.As(err, &badTarget):
		// dst was not a non-nil pointer: a bug in the handler, not in the request.
		slog.Error("respond: DecodeJSON needs a non-nil pointer", "error", err)
		return Problem{Status: http.StatusInternalServerError, Code: CodeInternal}
	default:
		// Reading the body failed (the client went away or stalled past the read timeout).
		return invalid("request body could not be read")
	}
}
