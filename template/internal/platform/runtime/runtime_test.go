package runtimecfg

import (
	"errors"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// The tests change the process-wide memory limit, so none runs in parallel and each puts
// the limit back.
func restoreMemoryLimit(t *testing.T) {
	t.Helper()
	previous := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(previous) })
}

func unsetEnv(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		// t.Setenv restores the variable afterwards; Unsetenv then removes it for the test.
		t.Setenv(name, "")
		if err := os.Unsetenv(name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfigureSetsNinetyPercentOfTheLimit(t *testing.T) {
	restoreMemoryLimit(t)
	unsetEnv(t, "GOMEMLIMIT", "AUTOMEMLIMIT")

	s, err := configure(memlimit.Limit(1000 << 20))
	if err != nil {
		t.Fatal(err)
	}
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
}

func TestConfigureWithoutALimitLeavesTheRuntimeDefault(t *testing.T) {
	for name, providerErr := range map[string]error{
		"no limit":  memlimit.ErrNoLimit,
		"no cgroup": memlimit.ErrNoCgroup,
	} {
		t.Run(name, func(t *testing.T) {
			restoreMemoryLimit(t)
			unsetEnv(t, "GOMEMLIMIT", "AUTOMEMLIMIT")
			debug.SetMemoryLimit(math.MaxInt64)

			s, err := configure(func() (uint64, error) { return 0, providerErr })
			if err != nil {
				t.Fatalf("error %v, want none", err)
			}
			if s.MemoryLimit != math.MaxInt64 || s.MemoryLimitSource != SourceNone {
				t.Errorf("got limit %d from %q, want no limit", s.MemoryLimit, s.MemoryLimitSource)
			}
		})
	}
}

func TestConfigureRespectsAnExplicitGOMEMLIMIT(t *testing.T) {
	restoreMemoryLimit(t)
	unsetEnv(t, "AUTOMEMLIMIT")
	// The runtime applies GOMEMLIMIT at process start; this one is set after it, so the
	// limit is set by hand the way the runtime would have.
	t.Setenv("GOMEMLIMIT", "64MiB")
	debug.SetMemoryLimit(64 << 20)

	s, err := configure(func() (uint64, error) {
		t.Error("the cgroup was read although GOMEMLIMIT is set")
		return 1 << 30, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryLimit != 64<<20 || s.MemoryLimitSource != SourceEnv {
		t.Errorf("got limit %d from %q, want %d from %q", s.MemoryLimit, s.MemoryLimitSource, 64<<20, SourceEnv)
	}
}

func TestConfigureCanBeSwitchedOff(t *testing.T) {
	restoreMemoryLimit(t)
	unsetEnv(t, "GOMEMLIMIT")
	t.Setenv("AUTOMEMLIMIT", "off")
	debug.SetMemoryLimit(math.MaxInt64)

	s, err := configure(memlimit.Limit(1 << 30))
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryLimit != math.MaxInt64 || s.MemoryLimitSource != SourceOff {
		t.Errorf("got limit %d from %q, want no limit from %q", s.MemoryLimit, s.MemoryLimitSource, SourceOff)
	}
}

func TestConfigureReportsAProviderFailure(t *testing.T) {
	restoreMemoryLimit(t)
	unsetEnv(t, "GOMEMLIMIT", "AUTOMEMLIMIT")
	debug.SetMemoryLimit(math.MaxInt64)
	broken := errors.New("memory.max: permission denied")

	s, err := configure(func() (uint64, error) { return 0, broken })
	if !errors.Is(err, broken) {
		t.Fatalf("error %v, want it to wrap %v", err, broken)
	}
	if s.MemoryLimit != math.MaxInt64 || s.MemoryLimitSource != SourceNone {
		t.Errorf("got limit %d from %q, want it unchanged", s.MemoryLimit, s.MemoryLimitSource)
	}
}
