package httpclient_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestSequentialCallsReuseConnections(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 4<<10)
	d := newDownstream(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })
	c := newClient(t, testConfig())

	const calls = 1000
	for i := range calls {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, d.URL, http.NoBody)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		// Half the callers read the body, half close it unread: Close drains it, so the
		// connection is reused either way.
		if i%2 == 0 {
			_, _ = io.Copy(io.Discard, resp.Body)
		}
		_ = resp.Body.Close()
	}
	if n := d.conns.Load(); n > 2 {
		t.Errorf("%d sequential calls opened %d connections, want at most 2", calls, n)
	}
}

func TestRetriedAnswersGiveTheirConnectionBack(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, strings.Repeat("e", 4<<10))
	})
	cfg := testConfig()
	cfg.RetryBudgetBurst = 1000
	c := newClient(t, cfg)

	for range 100 {
		if code, err := get(t.Context(), c, d.URL); code != http.StatusServiceUnavailable {
			t.Fatalf("call = %d, %v", code, err)
		}
	}
	if n, conns := d.requests.Load(), d.conns.Load(); n != 300 || conns > 2 {
		t.Errorf("%d requests opened %d connections, want 300 requests on at most 2", n, conns)
	}
}
