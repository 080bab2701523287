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

// encodeBuffer is a response body being encoded, with the encoder that writes into it: pooled
// together, so a response allocates neither.
type encodeBuffer struct {
	bytes.Buffer
	enc *json.Encoder
}

// bufferPool is package state by necessity: JSON and WriteProblem are plain functions. A pool
// is only a cache, so nothing a caller can observe depends on it.
var bufferPool = sync.Pool{
	New: func() any {
		buf := new(encodeBuffer)
		buf.enc = json.NewEncoder(&buf.Buffer)
		return buf
	},
}

func getBuffer() *encodeBuffer {
	buf := bufferPool.Get().(*encodeBuffer)
	// A pooled buffer holds the previous response until it is reset.
	buf.Reset()
	return buf
}

func putBuffer(buf *encodeBuffer) {
	if poolable(&buf.Buffer) {
		bufferPool.Put(buf)
	}
}

func poolable(buf *bytes.Buffer) bool {
	return buf.Cap() <= maxPooledBufferSize
}

// JSON writes v as a JSON body with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	write(w, status, jsonContentType, v)
}

// encodeFailureBody is written when a response cannot be encoded. It is a constant because
// encoding a Problem at that point could fail the same way.
const encodeFailureBody = `{"title":"Internal Server Error","status":500,"detail":"the response could not be encoded","code":"internal"}` + "\n"

func write(w http.ResponseWriter, status int, contentType []string, v any) {
	buf := getBuffer()
	defer putBuffer(buf)

	if err := buf.enc.Encode(v); err != nil {
		// A programming error (a channel, a NaN): the details go to the log, not the client.
		// The handler has no logger to hand here; main installs the service logger as slog's
		// default.
		slog.Error("respond: encoding response body", "error", err, "status", status)
		writeBody(w, http.StatusInternalServerError, problemContentType, []byte(encodeFailureBody))
		return
	}
	writeBody(w, status, contentType, buf.Bytes())
}

// Header values every response shares. Header.Set replaces a value slice and Header.Add
// appends to a copy (each has len == cap), so no response writes into another's: assigning
// one saves the allocation of Set.
var (
	jsonContentType    = []string{"application/json"}
	problemContentType = []string{"application/problem+json"}
)

// unbufferedBodySize is the size of net/http's response buffer (HTTP/1 and HTTP/2 alike):
// a body that fits is sent in one piece when the handler returns, and the server sets its
// Content-Length itself. A longer one is declared here, so it is not sent chunked.
const unbufferedBodySize = 2048

func writeBody(w http.ResponseWriter, status int, contentType []string, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentType
	if len(body) > unbufferedBodySize {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	// An error here means the client has gone; there is no one left to tell.
	_, _ = w.Write(body)
}
