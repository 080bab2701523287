package telemetry

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The carrier must read exactly what propagation.HeaderCarrier reads, whatever the case the
// caller spelled the headers in (net/http canonicalizes them on the way in).
func TestRequestHeaderReadsWhatHeaderCarrierReads(t *testing.T) {
	header := http.Header{}
	header.Set("TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	header.Set("tracestate", "vendor=value")
	header.Add("Baggage", "tenant=acme")
	header.Add("baggage", "region=eu")
	header.Set("X-Other", "kept")

	for _, key := range []string{"traceparent", "tracestate", "baggage", "x-other", "X-Other", "absent"} {
		if got, want := requestHeader(header).Get(key), propagation.HeaderCarrier(header).Get(key); got != want {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
		if got, want := requestHeader(header).Values(key), propagation.HeaderCarrier(header).Values(key); !slices.Equal(got, want) {
			t.Errorf("Values(%q) = %q, want %q", key, got, want)
		}
	}

	propagator := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	ctx := propagator.Extract(context.Background(), requestHeader(header))
	sc := trace.SpanContextFromContext(ctx)
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.TraceState().Get("vendor") != "value" {
		t.Errorf("extracted span context %v (trace state %q), want the caller's", sc, sc.TraceState())
	}
	bag := baggage.FromContext(ctx)
	if bag.Member("tenant").Value() != "acme" || bag.Member("region").Value() != "eu" {
		t.Errorf("extracted baggage %q, want both headers' members", bag)
	}
}

func TestExtractingNothingAllocatesNothing(t *testing.T) {
	header := http.Header{"Accept": {"application/json"}}
	propagator := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { propagator.Extract(ctx, requestHeader(header)) }); n != 0 {
		t.Errorf("extracting from a request without trace headers allocates %v times, want 0", n)
	}
}
