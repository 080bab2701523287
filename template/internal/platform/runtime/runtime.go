// Package runtimecfg fits the Go runtime to the container the service runs in.
//
// It lives in internal/platform/runtime but is named runtimecfg, so that code can import it
// next to the standard library's runtime package without renaming either.
//
// Memory: the Go runtime does not read the container's memory limit, so without a soft
// limit the garbage collector paces itself by GOGC alone and a heap that grows towards the
// cgroup limit ends in an OOM kill instead of more frequent collection. [Configure] sets
// the soft limit (GOMEMLIMIT) to 90% of the cgroup limit, leaving headroom for memory the
// Go runtime does not manage (the mapped binary, C allocations) and for the collector to
// catch up with a burst. GOGC stays at 100.
//
// CPU: nothing to do. Since Go 1.25 (with go.mod saying go 1.25 or later) the runtime sets
// GOMAXPROCS from the cgroup CPU limit itself and follows changes to it; automaxprocs, or
// setting GOMAXPROCS by hand, would turn those updates off.
package runtimecfg

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryRatio is the share of the cgroup memory limit given to the Go heap as GOMEMLIMIT.
const memoryRatio = 0.9

// Where the memory limit came from.
const (
	SourceEnv    = "GOMEMLIMIT"   // set explicitly in the environment; left as it is
	SourceCgroup = "cgroup"       // derived from the container's memory limit
	SourceNone   = "none"         // no limit found: the runtime's default, no soft limit
	SourceOff    = "AUTOMEMLIMIT" // AUTOMEMLIMIT=off: derivation switched off
)

// Settings is what the runtime runs with after [Configure].
type Settings struct {
	GOMAXPROCS int
	// MemoryLimit is the soft memory limit in bytes; math.MaxInt64 means none.
	MemoryLimit       int64
	MemoryLimitSource string
}

// Configure sets GOMEMLIMIT from the cgroup memory limit unless GOMEMLIMIT is set in the
// environment (the runtime has then applied it already) or AUTOMEMLIMIT=off.
// AUTOMEMLIMIT=<ratio in (0,1]> replaces the 90% share. Outside a cgroup, or in one without
// a memory limit, the runtime keeps its default. An error leaves the limit unchanged; the
// service can run without it, so callers log it rather than stop.
func Configure() (Settings, error) {
	return configure(memlimit.FromCgroup)
}

func configure(provider memlimit.Provider) (Settings, error) {
	// memlimit.Set skips the provider when GOMEMLIMIT is set or AUTOMEMLIMIT=off, and
	// turns ErrNoLimit into "no limit" (math.MaxInt64).
	limit, err := memlimit.Set(memlimit.WithProvider(provider), memlimit.WithRatio(memoryRatio))
	if errors.Is(err, memlimit.ErrNoCgroup) || errors.Is(err, memlimit.ErrCgroupsNotSupported) {
		// Not in a container (a developer's machine, a test run): nothing to derive from.
		err = nil
	} else if err != nil {
		err = fmt.Errorf("cgroup memory limit: %w", err)
	}

	s := Settings{
		GOMAXPROCS:        runtime.GOMAXPROCS(0),
		MemoryLimit:       debug.SetMemoryLimit(-1), // -1 reads the limit without changing it
		MemoryLimitSource: SourceNone,
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		s.MemoryLimitSource = SourceEnv
	} else if os.Getenv("AUTOMEMLIMIT") == "off" {
		s.MemoryLimitSource = SourceOff
	} else if err == nil && limit != math.MaxInt64 {
		s.MemoryLimitSource = SourceCgroup
	}
	return s, err
}
