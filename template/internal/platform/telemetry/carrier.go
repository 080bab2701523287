package telemetry

import (
	"net/http"
	"net/textproto"

	"go.opentelemetry.io/otel/propagation"
)

// requestHeader is the carrier the server middleware extracts a caller's trace context
// and baggage from. propagation.HeaderCarrier canonicalizes the key on every call, and
// for a header outside net/textproto's common set (traceparent, tracestate and baggage are
// all outside it) that makes a new string each time: two allocations on every request,
// most of which carry none of them. The propagators' own keys are canonicalized here once.
type requestHeader http.Header

var (
	_ propagation.TextMapCarrier = requestHeader(nil)
	_ propagation.ValuesGetter   = requestHeader(nil) // the baggage propagator reads every value
)

func (h requestHeader) Get(key string) string {
	if values := h[canonicalKey(key)]; len(values) > 0 {
		return values[0]
	}
	return ""
}

func (h requestHeader) Values(key string) []string { return h[canonicalKey(key)] }

func (h requestHeader) Set(key, value string) { http.Header(h).Set(key, value) }

func (h requestHeader) Keys() []string { return propagation.HeaderCarrier(h).Keys() }

// canonicalKey is textproto.CanonicalMIMEHeaderKey without the allocation for the keys
// of the W3C propagators.
func canonicalKey(key string) string {
	switch key {
	case "traceparent":
		return "Traceparent"
	case "tracestate":
		return "Tracestate"
	case "baggage":
		return "Baggage"
	}
	return textproto.CanonicalMIMEHeaderKey(key)
}
