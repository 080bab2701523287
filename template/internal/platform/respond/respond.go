// Package respond writes JSON and RFC 9457 problem+json responses and decodes JSON request
// bodies strictly. Every response body is encoded in full into a pooled buffer before the
// first byte is written, so a value that fails to encode becomes a clean 500 problem rather
// than half a body under a 200 status line.
package respond

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
)

// maxPooledBufferSize caps the buffers kept for reuse. A buffer grown by one large response
// would otherwise stay in the pool at that size and pin the memory for every later small one.
const maxPooledBufferSize = 64 << 10

// bufferPool is package state by necessity: JSON and WriteProblem are plain functions. A pool
// is only a cache, so nothing a caller can observe depends on it.
var bufferPool = sync.Pool{
	New: func() any { return new(bytes.Buffer) },
}

func getBuffer() *bytes.Buffer {
	buf := bufferPool.Get().(*bytes.Buffer)
	// A pooled buffer holds the previous response until it is reset.
	buf.Reset()
	return buf
}

func putBuffer(buf *bytes.Buffer) {
	if poolable(buf) {
		bufferPool.Put(buf)
	}
}

func poolable(buf *bytes.Buffer) bool {
	return buf.Cap() <= maxPooledBufferSize
}

// JSON writes v as a JSON body with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	write(w, status, "application/json", v)
}

// encodeFailureBody is written when a response cannot be encoded. It is a constant because
// encoding a Problem at that point could fail the same way.
const encodeFailureBody = `{"title":"Internal Server Error","status":500,"detail":"the response could not be encoded","code":"internal"}` + "\n"

func write(w http.ResponseWriter, status int, contentType string, v any) {
	buf := getBuffer()
	defer putBuffer(buf)

	if err := json.NewEncoder(buf).Encode(v); err != nil {
		// A programming error (a channel, a NaN): the details go to the log, not the client.
		// The handler has no logger to hand here; main installs the service logger as slog's
		// default.
		slog.Error("respond: encoding response body", "error", err, "status", status)
		writeBody(w, http.StatusInternalServerError, problemContentType, []byte(encodeFailureBody))
		return
	}
	writeBody(w, status, contentType, buf.Bytes())
}

func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	// An error here means the client has gone; there is no one left to tell.
	_, _ = w.Write(body)
}
