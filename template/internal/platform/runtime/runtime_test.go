package runtimecfg

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// The tests change the process-wide memory limit, so none runs in parallel and each puts
// the limit back.
func restoreMemoryLimit(t *testing.T) {
	t.Helper()
	previous := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(previous) })
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func load(t *testing.T, vars map[string]string) Config {
	t.Helper()
	c, err := Load(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var quiet = slog.New(slog.DiscardHandler)

// never fails the test if the cgroup is read.
func never(t *testing.T) memlimit.Provider {
	return func() (uint64, error) {
		t.Error("the cgroup was read")
		return 1 << 30, nil
	}
}

func TestApplySetsNinetyPercentOfTheLimit(t *testing.T) {
	restoreMemoryLimit(t)
	// An empty GOMEMLIMIT is unset, for the runtime and for every variable of the service.
	for name, vars := range map[string]map[string]string{
		"unset": nil,
		"empty": {"GOMEMLIMIT": "", "AUTOMEMLIMIT": ""},
	} {
		t.Run(name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			s := apply(t.Context(), load(t, vars), quiet, memlimit.Limit(1000<<20), time.Hour)
			want := int64(900 << 20)
			if s.MemoryLimit != want || s.MemoryLimitSource != SourceCgroup {
				t.Errorf("got limit %d from %q, want %d from %q", s.MemoryLimit, s.MemoryLimitSource, want, SourceCgroup)
			}
			if got := debug.SetMemoryLimit(-1); got != want {
				t.Errorf("runtime memory limit = %d, want %d", got, want)
			}
			if s.GOMAXPROCS < 1 {
				t.Errorf("GOMAXPROCS = %d", s.GOMAXPROCS)
			}
		})
	}
}

func TestApplyFollowsAResizedLimit(t *testing.T) {
	restoreMemoryLimit(t)
	var cgroupLimit atomic.Uint64
	cgroupLimit.Store(1000 << 20)
	cgroup := func() (uint64, error) { return cgroupLimit.Load(), nil }

	apply(t.Context(), load(t, nil), quiet, cgroup, time.Millisecond)
	cgroupLimit.Store(2000 << 20) // an in-place resize of the pod
	want := int64(1800 << 20)
	deadline := time.Now().Add(5 * time.Second)
	for debug.SetMemoryLimit(-1) != want {
		if time.Now().After(deadline) {
			t.Fatalf("memory limit = %d after the resize, want %d", debug.SetMemoryLimit(-1), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestApplyStopsFollowingWithTheContext(t *testing.T) {
	restoreMemoryLimit(t)
	var reads atomic.Int64
	cgroup := func() (uint64, error) { reads.Add(1); return 1 << 30, nil }
	ctx, cancel := context.WithCancel(t.Context())

	apply(ctx, load(t, nil), quiet, cgroup, time.Millisecond)
	cancel()
	time.Sleep(20 * time.Millisecond) // a tick in flight at cancel may still land
	after := reads.Load()
	time.Sleep(20 * time.Millisecond)
	if reads.Load() != after {
		t.Error("the cgroup is still read after the context ended")
	}
}

func TestApplyWithoutALimitLeavesTheRuntimeDefault(t *testing.T) {
	for name, providerErr := range map[string]error{
		"no limit":  memlimit.ErrNoLimit,
		"no cgroup": memlimit.ErrNoCgroup,
	} {
		t.Run(name, func(t *testing.T) {
			restoreMemoryLimit(t)
			debug.SetMemoryLimit(math.MaxInt64)

			s := apply(t.Context(), load(t, nil), quiet, func() (uint64, error) { return 0, providerErr }, time.Hour)
			if s.MemoryLimit != math.MaxInt64 || s.MemoryLimitSource != SourceNone {
				t.Errorf("got limit %d from %q, want no limit", s.MemoryLimit, s.MemoryLimitSource)
			}
		})
	}
}

func TestApplyRespectsAnExplicitGOMEMLIMIT(t *testing.T) {
	restoreMemoryLimit(t)
	// The runtime applies GOMEMLIMIT at process start; here it is set by hand the way the
	// runtime would have.
	debug.SetMemoryLimit(64 << 20)

	s := apply(t.Context(), load(t, map[string]string{"GOMEMLIMIT": "64MiB"}), quiet, never(t), time.Millisecond)
	if s.MemoryLimit != 64<<20 || s.MemoryLimitSource != SourceEnv {
		t.Errorf("got limit %d from %q, want %d from %q", s.MemoryLimit, s.MemoryLimitSource, 64<<20, SourceEnv)
	}
	time.Sleep(10 * time.Millisecond) // a follower would have read the cgroup by now
}

func TestApplyCanBeSwitchedOff(t *testing.T) {
	restoreMemoryLimit(t)
	debug.SetMemoryLimit(math.MaxInt64)

	s := apply(t.Context(), load(t, map[string]string{"AUTOMEMLIMIT": "off"}), quiet, never(t), time.Millisecond)
	if s.MemoryLimit != math.MaxInt64 || s.MemoryLimitSource != SourceOff {
		t.Errorf("got limit %d from %q, want no limit from %q", s.MemoryLimit, s.MemoryLimitSource, SourceOff)
	}
	time.Sleep(10 * time.Millisecond)
}

func TestApplyTakesTheRatioFromAUTOMEMLIMIT(t *testing.T) {
	restoreMemoryLimit(t)
	s := apply(t.Context(), load(t, map[string]string{"AUTOMEMLIMIT": "0.5"}), quiet, memlimit.Limit(1000<<20), time.Hour)
	if want := int64(500 << 20); s.MemoryLimit != want {
		t.Errorf("limit = %d, want %d", s.MemoryLimit, want)
	}
}

func TestApplyLogsAnUnreadableCgroupOnceAndRunsOn(t *testing.T) {
	restoreMemoryLimit(t)
	debug.SetMemoryLimit(math.MaxInt64)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	broken := errors.New("memory.max: permission denied")
	var reads atomic.Int64
	cgroup := func() (uint64, error) { reads.Add(1); return 0, broken }

	s := apply(t.Context(), load(t, nil), logger, cgroup, time.Millisecond)
	if s.MemoryLimit != math.MaxInt64 || s.MemoryLimitSource != SourceNone {
		t.Errorf("got limit %d from %q, want it unchanged", s.MemoryLimit, s.MemoryLimitSource)
	}
	for reads.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	if n := strings.Count(logs.String(), "permission denied"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logs.String())
	}
}

func TestLoadRefusesAnInvalidAUTOMEMLIMIT(t *testing.T) {
	for _, value := range []string{"90%", "0", "1.5", "-0.1", "NaN", "of"} {
		_, err := Load(env(map[string]string{"AUTOMEMLIMIT": value}))
		if err == nil {
			t.Errorf("AUTOMEMLIMIT=%q accepted", value)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "AUTOMEMLIMIT") || strings.Contains(msg, "\n") {
			t.Errorf("error %q, want one line naming AUTOMEMLIMIT", msg)
		}
	}
}

// syncBuffer is a bytes.Buffer the follower goroutine and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
