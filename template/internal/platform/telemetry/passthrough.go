package telemetry

import (
	"net/http"

	"go.opentelemetry.io/otel/trace/noop"
)

// tracingOff reports whether OTEL_SDK_DISABLED turned the spans off.
func (t *Telemetry) tracingOff() bool {
	_, off := t.tracerProvider.(noop.TracerProvider)
	return off
}

// propagateOnly is the server middleware when tracing is off: it makes no span (not even
// one that does not record, with its ids and a copy of the request), and only puts the
// caller's trace context and baggage on the request's context, for the outgoing calls.
func (t *Telemetry) propagateOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.propagator.Extract(r.Context(), requestHeader(r.Header))
		if ctx != r.Context() { // no traceparent or baggage: nothing to carry
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}
