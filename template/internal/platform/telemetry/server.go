package telemetry

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// serverScope names this package as the source of the server spans.
const serverScope = "telemetry/http"

// Middleware starts a server span for every request, continuing the trace named by the
// request's traceparent header. Requests for the untraced paths (e.g. the probes, which
// the kubelet calls every few seconds) get no span.
//
// The span is named after the method alone when it starts: the route is known only once
// the router has matched the request, which then renames the span "METHOD route" and sets
// http.route (see httpserver.Router; a ServeMux right inside this middleware is read
// after it served, through r.Pattern).
//
// It does what otelhttp's handler does for a server span, by hand, for the cost: a span
// that does not record (nothing exported, or not sampled) gets no attributes and no
// ResponseWriter wrapper, so a request pays for its trace context and nothing more.
func (t *Telemetry) Middleware(untraced ...string) func(http.Handler) http.Handler {
	if t.tracingOff() {
		return t.propagateOnly
	}
	tracer := t.tracerProvider.Tracer(serverScope)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if slices.Contains(untraced, r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			ctx := t.propagator.Extract(r.Context(), requestHeader(r.Header))
			ctx, span := tracer.Start(ctx, spanName(r), serverSpan...)
			defer span.End()
			r = r.WithContext(ctx)
			if !span.IsRecording() {
				next.ServeHTTP(w, r)
				return
			}

			span.SetAttributes(requestAttributes(r)...)
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if r.Pattern != "" { // a ServeMux served r itself
				span.SetName(spanName(r))
				span.SetAttributes(semconv.HTTPRoute(Route(r.Pattern)))
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
			if status >= http.StatusInternalServerError {
				// A 4xx is the client's error, not the server's: only a 5xx marks the span.
				span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
				span.SetStatus(codes.Error, "")
			}
		})
	}
}

// serverSpan is made once: a slice of options passed on every Start costs nothing more.
var serverSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// requestAttributes are the HTTP semantic conventions' attributes of a server span that
// the request alone gives.
func requestAttributes(r *http.Request) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 11)
	if method := knownMethod(r.Method); method == r.Method {
		attrs = append(attrs, semconv.HTTPRequestMethodKey.String(method))
	} else {
		attrs = append(attrs, semconv.HTTPRequestMethodKey.String(method), semconv.HTTPRequestMethodOriginal(r.Method))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs = append(attrs, semconv.URLScheme(scheme), semconv.URLPath(r.URL.Path))
	if r.ProtoMajor > 0 {
		version := strconv.Itoa(r.ProtoMajor)
		if r.ProtoMajor == 1 {
			version += "." + strconv.Itoa(r.ProtoMinor)
		}
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	if host, port := splitHostPort(r.Host); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if host, port := splitHostPort(r.RemoteAddr); host != "" {
		// No proxy header is trusted: the client address is the peer's.
		attrs = append(attrs, semconv.ClientAddress(host), semconv.NetworkPeerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.NetworkPeerPort(port))
		}
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return attrs
}

// splitHostPort splits "host:port" or "[::1]:port"; port is 0 when there is none.
func splitHostPort(hostport string) (host string, port int) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return strings.Trim(hostport, "[]"), 0
	}
	port, _ = strconv.Atoi(p)
	return host, port
}

// spanName names a server span as the HTTP semantic conventions say: "METHOD route" once
// r.Pattern is set, the method alone before (or when no route matched), and HTTP for a
// method they do not know.
func spanName(r *http.Request) string {
	method := knownMethod(r.Method)
	if method == "_OTHER" {
		method = "HTTP"
	}
	if r.Pattern == "" {
		return method
	}
	return method + " " + Route(r.Pattern)
}

// knownMethod is the method, or _OTHER for one the HTTP semantic conventions do not know
// (a client may send anything; a span must not carry it as a method).
func knownMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "_OTHER"
}

// Route is the http.route of a ServeMux pattern: the path template, without the method
// and host the pattern may start with ("GET /v1/items/{id}" is "/v1/items/{id}").
func Route(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		return pattern[i:]
	}
	return pattern
}

// statusWriter remembers the status of the response, for the span.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	// 1xx responses (103 Early Hints) may precede the final status.
	if w.status == 0 && status >= http.StatusOK {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes streaming responses through (http.NewResponseController finds it).
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush() // http.Flusher reports no error either
}

// Unwrap gives http.NewResponseController the writer underneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
