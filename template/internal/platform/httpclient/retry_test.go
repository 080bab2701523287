package httpclient_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRetriesUntilTheDownstreamRecovers(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, failThenOK(3))
	cfg := testConfig()
	cfg.MaxAttempts = 5
	cfg.RetryBackoff = 20 * time.Millisecond
	cfg.RetryBackoffMax = 200 * time.Millisecond

	code, err := get(t.Context(), newClient(t, cfg), d.URL)
	if err != nil || code != http.StatusOK {
		t.Fatalf("call = %d, %v; want 200 after three 503s", code, err)
	}
	if n := d.requests.Load(); n != 4 {
		t.Errorf("downstream saw %d requests, want 4 (three failures, then success)", n)
	}
	// The schedule's bounds and spread are proven in retry_internal_test.go; here, the
	// waits the downstream saw, for the record.
	t.Logf("waits before each retry: %v (ceilings 20ms, 40ms, 80ms)", d.gaps())
}

func TestAttemptsAreBounded(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, status(http.StatusBadGateway))

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, d.URL, http.NoBody)
	resp, err := newClient(t, testConfig()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// The last answer is the caller's, body and all, to map or log as it sees fit.
	if resp.StatusCode != http.StatusBadGateway || string(body) != "Bad Gateway" {
		t.Errorf("got %d %q, want the last answer, 502 \"Bad Gateway\"", resp.StatusCode, body)
	}
	if n := d.requests.Load(); n != 3 {
		t.Errorf("downstream saw %d requests, want MaxAttempts = 3", n)
	}
}

func TestWhatIsNotRetried(t *testing.T) {
	t.Parallel()
	// Each request must be sent exactly once.
	cases := map[string]struct {
		answer http.HandlerFunc
		build  func(url string) *http.Request
	}{
		"a 4xx answer": {status(http.StatusNotFound), func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, url, http.NoBody)
			return r
		}},
		"501 Not Implemented": {status(http.StatusNotImplemented), func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, url, http.NoBody)
			return r
		}},
		"POST without Idempotency-Key": {status(http.StatusServiceUnavailable), func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"n":1}`))
			return r
		}},
		"PATCH without Idempotency-Key": {status(http.StatusServiceUnavailable), func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(`{"n":1}`))
			return r
		}},
		"a body that cannot be replayed": {status(http.StatusServiceUnavailable), func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPut, url, io.MultiReader(strings.NewReader(`{"n":1}`)))
			return r
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newDownstream(t, tc.answer)
			resp, err := newClient(t, testConfig()).Do(tc.build(d.URL).WithContext(t.Context()))
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if n := d.requests.Load(); n != 1 {
				t.Errorf("downstream saw %d requests, want 1", n)
			}
		})
	}
}

func TestPostWithIdempotencyKeyIsRetriedWithItsBody(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		bodies []string
	)
	fail := failThenOK(2)
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		fail(w, r)
	})

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, d.URL, bytes.NewReader([]byte(`{"n":1}`)))
	req.Header.Set("Idempotency-Key", "3f1c9a52")
	resp, err := newClient(t, testConfig()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != http.StatusOK || len(bodies) != 3 {
		t.Fatalf("got %d after %d requests, want 200 after 3", resp.StatusCode, len(bodies))
	}
	for i, b := range bodies {
		if b != `{"n":1}` {
			t.Errorf("attempt %d sent body %q, want the original", i+1, b)
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, sequence(retryAfter(http.StatusServiceUnavailable, "2"), status(http.StatusOK)))
	cfg := testConfig()
	cfg.RetryAfterMax = 5 * time.Second

	code, err := get(t.Context(), newClient(t, cfg), d.URL)
	if err != nil || code != http.StatusOK {
		t.Fatalf("call = %d, %v; want 200 on the retry", code, err)
	}
	// A timer never fires early, so this lower bound is exact; the backoff alone would
	// have waited at most 5ms.
	if gaps := d.gaps(); len(gaps) != 1 || gaps[0] < 2*time.Second {
		t.Errorf("waits between attempts = %v, want one of at least 2s", gaps)
	}
}

func TestRetryAfterBeyondTheCapIsCapped(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, sequence(retryAfter(http.StatusTooManyRequests, "3600"), status(http.StatusOK)))
	cfg := testConfig()
	cfg.RetryAfterMax = 100 * time.Millisecond

	// The call has 10s. Waiting the hour asked for would not fit, so without the cap the
	// client would return the 429 at once instead of retrying.
	code, err := get(t.Context(), newClient(t, cfg), d.URL)
	if err != nil || code != http.StatusOK {
		t.Fatalf("call = %d, %v; want 200 after a wait capped at 100ms", code, err)
	}
	if gaps := d.gaps(); len(gaps) != 1 || gaps[0] < 100*time.Millisecond {
		t.Errorf("waits between attempts = %v, want one of at least the 100ms cap", gaps)
	}
}

func TestRetryAfterPastTheDeadlineReturnsTheAnswer(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, retryAfter(http.StatusServiceUnavailable, "2"))
	cfg := testConfig()
	cfg.Timeout = time.Second
	cfg.RetryAfterMax = 5 * time.Second

	code, err := get(t.Context(), newClient(t, cfg), d.URL)
	if err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("call = %d, %v; want the 503 at once rather than a wait that outlasts the call", code, err)
	}
	if n := d.requests.Load(); n != 1 {
		t.Errorf("downstream saw %d requests, want 1", n)
	}
}
