package httpclient

import (
	"net/http"
	"testing"
	"time"
)

func TestFullJitterGrowsAndSpreads(t *testing.T) {
	t.Parallel()
	const (
		base    = 10 * time.Millisecond
		ceiling = 80 * time.Millisecond
		samples = 2000
	)
	// Retry n waits uniformly in [0, min(ceiling, base*2^(n-1))]: the mean doubles until
	// the ceiling, and the waits spread over the whole range, down to almost nothing.
	wantCeilings := []time.Duration{10, 20, 40, 80, 80, 80}
	var prevMean time.Duration
	for n, want := range wantCeilings {
		want *= time.Millisecond
		var sum, lo, hi time.Duration
		lo = time.Hour
		for range samples {
			b := &fullJitter{base: base, max: ceiling}
			var d time.Duration
			for range n + 1 {
				d = b.NextBackOff()
			}
			if d < 0 || d > want {
				t.Fatalf("retry %d waited %v, want within [0, %v]", n+1, d, want)
			}
			sum += d
			lo, hi = min(lo, d), max(hi, d)
		}
		mean := sum / samples
		// Over 2000 samples the mean lies within a few percent of want/2.
		if mean < want*4/10 || mean > want*6/10 {
			t.Errorf("retry %d: mean wait %v, want about %v", n+1, mean, want/2)
		}
		if lo > want/10 || hi < want*9/10 {
			t.Errorf("retry %d: waits ranged over [%v, %v], want nearly all of [0, %v]", n+1, lo, hi, want)
		}
		if n > 0 && n < 4 && mean <= prevMean {
			t.Errorf("retry %d: mean wait %v did not grow from %v", n+1, mean, prevMean)
		}
		prevMean = mean
	}
}

func TestFullJitterNeverOverflows(t *testing.T) {
	t.Parallel()
	b := &fullJitter{base: time.Second, max: time.Minute}
	for range 200 {
		if d := b.NextBackOff(); d < 0 || d > time.Minute {
			t.Fatalf("wait %v, want within [0, 1m]", d)
		}
	}
	b.Reset()
	if d := b.NextBackOff(); d > time.Second {
		t.Errorf("first wait after Reset = %v, want at most the base", d)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	const limit = 10 * time.Second
	cases := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"2", 2 * time.Second, true},
		{"0", 0, true},
		{"120", limit, true}, // capped
		{now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second, true},
		{now.Add(time.Hour).Format(http.TimeFormat), limit, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true}, // in the past: retry now
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range cases {
		got, ok := retryAfter(tc.value, now, limit)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.value, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRetryBudget(t *testing.T) {
	t.Parallel()
	b := newRetryBudget(0.25, 2)
	for i := range 2 {
		if !b.withdraw() {
			t.Fatalf("retry %d refused, want the burst of 2 available at start", i+1)
		}
	}
	if b.withdraw() {
		t.Fatal("third retry allowed with the burst spent and no calls since")
	}
	for range 3 {
		b.deposit()
	}
	if b.withdraw() {
		t.Fatal("retry allowed after 3 calls at ratio 0.25 (0.75 tokens)")
	}
	b.deposit()
	if !b.withdraw() {
		t.Fatal("retry refused after 4 calls at ratio 0.25 (1 token)")
	}
	for range 100 {
		b.deposit()
	}
	// Two withdrawals succeed, the third finds the bucket empty.
	held := 0
	for held <= 2 && b.withdraw() { // bounded, in case the bucket never empties
		held++
	}
	if held != 2 {
		t.Errorf("bucket held %d tokens after 100 calls, want its burst of 2", held)
	}
}
