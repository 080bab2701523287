package telemetry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/baggage"
)

// With the SDK disabled the middleware hands the handler the server's own ResponseWriter
// (no wrapper, no work per request) and still carries the caller's baggage.
func TestSDKDisabledOnlyPropagates(t *testing.T) {
	clearOTelEnv(t)
	t.Setenv("OTEL_SDK_DISABLED", "true")
	tel := newTelemetry(t)
	rec := httptest.NewRecorder()
	var sawWriter http.ResponseWriter
	var member string
	h := tel.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawWriter = w
		member = baggage.FromContext(r.Context()).Member("tenant").Value()
	}))
	req := httptest.NewRequest(http.MethodGet, "/v1/things", http.NoBody)
	req.Header.Set("Baggage", "tenant=acme")
	h.ServeHTTP(rec, req)
	if sawWriter != rec {
		t.Errorf("handler got %T, want the server's writer unwrapped", sawWriter)
	}
	if member != "acme" {
		t.Errorf("baggage tenant = %q, want acme", member)
	}
}
