package telemetry

import (
	"errors"
	"testing"
	"time"
)

func TestErrorsArePassedOnOncePerInterval(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	type call struct {
		err        error
		suppressed int
	}
	var calls []call
	h := &limitedHandler{
		handle:   func(err error, suppressed int) { calls = append(calls, call{err, suppressed}) },
		interval: time.Minute,
		now:      func() time.Time { return now },
	}
	failed := errors.New("export failed")
	for range 50 { // a collector down: one error per batch
		h.Handle(failed)
		now = now.Add(time.Second)
	}
	if len(calls) != 1 || calls[0].suppressed != 0 {
		t.Fatalf("calls %v, want the first error alone", calls)
	}
	now = now.Add(10 * time.Second) // 60s after the first
	h.Handle(failed)
	if len(calls) != 2 || calls[1].suppressed != 49 {
		t.Errorf("calls %v, want a second after the interval, with the 49 in between", calls)
	}
}
